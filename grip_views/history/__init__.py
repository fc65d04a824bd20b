"""Event history: per-channel ids, replay for clients that resume, the outbox.

``get_history()`` is the store ``GRIP_HISTORY_BACKEND`` names, built on first
use and rebuilt when a ``GRIP_HISTORY_*`` setting changes. The database store
(the default) needs ``manage.py migrate``; the Redis one ``grip-views[redis]``.
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from .base import HistoryBackend, Replay, StoredEvent, parse_event_id, render
from .conf import LazyStore, history_settings

__all__ = [
    "HistoryBackend",
    "Replay",
    "StoredEvent",
    "get_history",
    "history_settings",
    "parse_event_id",
    "render",
    "reset_history",
]

_history = LazyStore(lambda: history_settings.build_backend())


def get_history() -> HistoryBackend:
    """The process's history store."""
    return _history.get()  # type: ignore[no-any-return]


def reset_history() -> None:
    """Forget the store, so the next use reads the settings again."""
    _history.reset()


@receiver(setting_changed)
def _reset_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(("GRIP_HISTORY_", "GRIP_OUTBOX_")):
        reset_history()
