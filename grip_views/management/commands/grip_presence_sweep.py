"""``manage.py grip_presence_sweep``: announce the leave of expired presence entries.

Every presence write of the app already sweeps (at most once a second per
process); this command is for rooms where nobody comes or goes for a while:
a vanished stream client's ``leave`` and a channel's ``channel_vacated`` are
then announced within ``--interval`` seconds of their due time. SIGTERM or
SIGINT stop it cleanly after the sweep it is running.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from grip_views.management.loop import run_until_stopped
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
        def step() -> None:
            changes = sweep()
            if changes:
                self.stdout.write(", ".join(f"{c.kind} {c.channel}" for c in changes))

        if not run_until_stopped(step, options["interval"], options["once"], logger, "grip_presence_sweep"):
            self.stdout.write("grip_presence_sweep stopped")
