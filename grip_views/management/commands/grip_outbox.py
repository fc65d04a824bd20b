"""``manage.py grip_outbox``: send durable events left unsent, until stopped.

Each process sends its own durable publishes after commit; this command is
the deployment's safety net: it sends what a crashed process left, and keeps
retrying (with backoff up to ``GRIP_OUTBOX_RETRY_MAX``) while a proxy is down.
SIGTERM or SIGINT stop it cleanly after the batch it is sending.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from grip_views.durable import send_unsent
from grip_views.history import history_settings
from grip_views.management.loop import run_until_stopped

logger = logging.getLogger("grip_views.durable")


class Command(BaseCommand):
    help = "Send durable grip_views events that are not sent yet; runs until SIGTERM (or --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between two looks (1)")
        parser.add_argument("--once", action="store_true", help="send what is unsent now, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        def send() -> None:
            sent = send_unsent()
            if sent:
                self.stdout.write(f"sent {sent} event(s)")

        once = options["once"]
        if not run_until_stopped(
            send,
            options["interval"],
            once,
            logger,
            "grip_outbox",
            failure="not sent",
            backoff_max=history_settings.outbox_retry_max,
        ):
            self.stdout.write("grip_outbox stopped")
