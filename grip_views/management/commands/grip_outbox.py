"""``manage.py grip_outbox``: send durable events left unsent, until stopped.

Each process sends its own durable publishes after commit; this command is
the deployment's safety net: it sends what a crashed process left, and keeps
retrying (with backoff up to ``GRIP_OUTBOX_RETRY_MAX``) while a proxy is down.
SIGTERM or SIGINT stop it cleanly after the batch it is sending.
"""

from __future__ import annotations

import logging

from grip_views.durable import send_unsent
from grip_views.history import history_settings
from grip_views.management.loop import LoopCommand


class Command(LoopCommand):
    help = "Send durable grip_views events that are not sent yet; runs until SIGTERM (or --once)."
    interval_help = "seconds between two looks (1)"
    once_help = "send what is unsent now, then exit"
    logger = logging.getLogger("grip_views.durable")
    failure = "not sent"

    def step(self) -> None:
        sent = send_unsent()
        if sent:
            self.stdout.write(f"sent {sent} event(s)")

    def backoff_max(self) -> float | None:
        return history_settings.outbox_retry_max
