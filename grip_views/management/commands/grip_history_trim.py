"""``manage.py grip_history_trim``: drop old events from the history store."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from grip_views.history import get_history, history_settings


class Command(BaseCommand):
    help = (
        "Drop sent events beyond GRIP_HISTORY_MAX_EVENTS per channel or older than "
        "GRIP_HISTORY_MAX_AGE seconds (unsent events are always kept). Run it from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-events", type=int, help="events kept per channel (default: the setting)")
        parser.add_argument("--max-age", type=float, help="seconds an event is kept (default: the setting)")

    def handle(self, *args: Any, **options: Any) -> None:
        max_events = options["max_events"] or history_settings.max_events
        max_age = options["max_age"] or history_settings.max_age
        for name, value in (("--max-events", max_events), ("--max-age", max_age)):
            if value is not None and value <= 0:
                self.stderr.write(f"{name} must be positive")
                raise SystemExit(2)
        dropped = get_history().trim(max_events=max_events, max_age=max_age)
        self.stdout.write(f"dropped {dropped} event(s) (kept at most {max_events} per channel, {max_age} s)")
