"""``manage.py grip_presence_sweep``: announce the leave of expired presence entries.

Every presence write of the app already sweeps (at most once a second per
process); this command is for rooms where nobody comes or goes for a while:
a vanished stream client's ``leave`` and a channel's ``channel_vacated`` are
then announced within ``--interval`` seconds of their due time. SIGTERM or
SIGINT stop it cleanly after the sweep it is running.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from grip_views.presence import sweep

logger = logging.getLogger("grip_views.presence")


class Command(BaseCommand):
    help = (
        "Remove expired grip_views presence entries and announce their leave; runs until SIGTERM (or --once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between two sweeps (1)")
        parser.add_argument("--once", action="store_true", help="sweep once, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        interval = max(0.05, options["interval"])

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while True:
                try:
                    changes = sweep()
                except Exception as exc:
                    logger.error(
                        "grip_views: grip_presence_sweep: sweep failed (next in %.1f s): %s", interval, exc
                    )
                    if options["once"]:
                        raise SystemExit(1) from exc
                else:
                    if changes:
                        self.stdout.write(", ".join(f"{c.kind} {c.channel}" for c in changes))
                    if options["once"]:
                        return
                if stop.wait(interval):
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("grip_presence_sweep stopped")
