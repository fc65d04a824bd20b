"""``manage.py grip_outbox``: send durable events left unsent, until stopped.

Each process sends its own durable publishes after commit; this command is
the deployment's safety net: it sends what a crashed process left, and keeps
retrying (with backoff up to ``GRIP_OUTBOX_RETRY_MAX``) while a proxy is down.
SIGTERM or SIGINT stop it cleanly after the batch it is sending.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from grip_views.durable import send_unsent
from grip_views.history import history_settings

logger = logging.getLogger("grip_views.durable")


class Command(BaseCommand):
    help = "Send durable grip_views events that are not sent yet; runs until SIGTERM (or --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between two looks (1)")
        parser.add_argument("--once", action="store_true", help="send what is unsent now, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        interval = max(0.05, options["interval"])

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        delay = interval
        try:
            while True:
                try:
                    sent = send_unsent()
                except Exception as exc:
                    delay = min(delay * 2, history_settings.outbox_retry_max)
                    logger.error("grip_views: grip_outbox: not sent (next try in %.1f s): %s", delay, exc)
                    if options["once"]:
                        raise SystemExit(1) from exc
                else:
                    delay = interval
                    if sent:
                        self.stdout.write(f"sent {sent} event(s)")
                    if options["once"]:
                        return
                if stop.wait(delay):
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("grip_outbox stopped")
