"""``manage.py grip_presence_sweep``: announce the leave of expired presence entries.

Every presence write of the app already sweeps (at most once a second per
process); this command is for rooms where nobody comes or goes for a while:
a vanished stream client's ``leave`` and a channel's ``channel_vacated`` are
then announced within ``--interval`` seconds of their due time. SIGTERM or
SIGINT stop it cleanly after the sweep it is running.
"""

from __future__ import annotations

import logging

from grip_views.management.loop import LoopCommand
from grip_views.presence import sweep


class Command(LoopCommand):
    help = (
        "Remove expired grip_views presence entries and announce their leave; runs until SIGTERM (or --once)."
    )
    interval_help = "seconds between two sweeps (1)"
    once_help = "sweep once, then exit"
    logger = logging.getLogger("grip_views.presence")

    def step(self) -> None:
        changes = sweep()
        if changes:
            self.stdout.write(", ".join(f"{c.kind} {c.channel}" for c in changes))
