"""Presence from Python: join, refresh, leave, sweep, and who is there.

The views (:class:`~grip_views.presence.PresenceMixin`) call these; so may
any code that tracks connections of its own. Each change the store reports is
announced after the current transaction commits: ``join`` and ``leave``
published on the channel (an SSE event for streams, a JSON message for
WebSockets), ``occupied`` and ``vacated`` as Django signals.

Expired entries (a client that vanished without a word: a stream, a crashed
proxy) are removed by :func:`sweep`, which announces their ``leave``. Every
presence write in a process sweeps first, at most once a second
(``SWEEP_EVERY``), and ``manage.py grip_presence_sweep`` sweeps on a timer
for rooms where nobody else comes and goes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from gripcontrol import HttpStreamFormat, WebSocketMessageFormat

from ..history.conf import LazyStore
from ..protocol.sse import format_event
from ..publishing import publish
from .base import Change, Member, PresenceBackend
from .conf import presence_settings
from .signals import channel_occupied, channel_vacated

__all__ = [
    "SWEEP_EVERY",
    "get_presence",
    "join",
    "leave",
    "member_count",
    "members",
    "presence_message",
    "refresh",
    "reset_presence",
    "sweep",
]

logger = logging.getLogger(__name__)

#: Seconds between two sweeps made by one process's presence writes.
SWEEP_EVERY = 1.0

_store = LazyStore(lambda: presence_settings.build_backend())
_swept_at = 0.0


def get_presence() -> PresenceBackend:
    """The process's presence store (``GRIP_PRESENCE_BACKEND``)."""
    return _store.get()  # type: ignore[no-any-return]


def reset_presence() -> None:
    """Forget the store, so the next use reads the settings again."""
    global _swept_at
    _store.reset()
    _swept_at = 0.0


@receiver(setting_changed)
def _reset_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(("GRIP_PRESENCE_", "GRIP_HISTORY_")):
        reset_presence()


# --------------------------------------------------------------------- reading
def members(channel: str) -> list[Member]:
    """The members of ``channel`` with a live connection, by key."""
    return get_presence().members(channel, time.time())


def member_count(channel: str) -> int:
    """How many members ``channel`` has."""
    return get_presence().count(channel, time.time())


# --------------------------------------------------------------------- writing
def join(channel: str, member: str, connection: str, info: Mapping[str, Any]) -> list[Change]:
    """Add ``connection`` of ``member`` to ``channel`` for ``GRIP_PRESENCE_TTL`` seconds."""
    _maybe_sweep()
    now = time.time()
    changes = get_presence().join(channel, member, connection, info, now + presence_settings.ttl, now)
    announce(changes)
    return changes


def refresh(connection: str) -> int:
    """A heartbeat: ``connection``'s entries live ``GRIP_PRESENCE_TTL`` seconds more.
    How many it had (0: none, or all expired: join again)."""
    _maybe_sweep()
    now = time.time()
    return get_presence().refresh(connection, now + presence_settings.ttl, now)


def leave(connection: str) -> list[Change]:
    """Remove ``connection`` from every channel it is in (a client closed or vanished)."""
    changes = get_presence().leave(connection, time.time())
    announce(changes)
    return changes


def sweep() -> list[Change]:
    """Remove every expired entry (announcing the ``leave`` of members left with no
    connection) and report channels empty for ``GRIP_PRESENCE_DEBOUNCE`` as vacated."""
    global _swept_at
    _swept_at = time.monotonic()
    changes = get_presence().expire(time.time(), presence_settings.debounce)
    announce(changes)
    return changes


def _maybe_sweep() -> None:
    if time.monotonic() - _swept_at >= SWEEP_EVERY:
        try:
            sweep()
        except Exception:  # a sweep is housekeeping: the write that triggered it goes on
            logger.exception("grip_views: presence sweep failed")


# --------------------------------------------------------------------- announcing
def presence_message(event: str, channel: str, **fields: Any) -> dict[str, Any]:
    """The JSON a WebSocket gets (and an SSE event's data, without ``event``)."""
    return {"event": event, "channel": channel, **fields}


def _formats(event: str, channel: str, **fields: Any) -> list[Any]:
    data = presence_message(event, channel, **fields)
    text = json.dumps(data, separators=(",", ":"))
    del data["event"]
    return [HttpStreamFormat(format_event(data, event=event)), WebSocketMessageFormat(text)]


def announce(changes: Iterable[Change]) -> None:
    """Publish each ``join``/``leave``, send each occupancy signal, once committed."""
    for change in changes:
        if change.kind in ("join", "leave"):
            assert change.member is not None
            formats = _formats(
                change.kind, change.channel, member=change.member.as_json(), count=change.count
            )
            publish(change.channel, formats, blocking=False, on_commit=True)
        elif change.kind == "occupied":
            transaction.on_commit(_sender(channel_occupied, change.channel, count=change.count))
        else:
            transaction.on_commit(_sender(channel_vacated, change.channel))


def _sender(signal: Any, channel: str, **extra: Any) -> Any:
    return lambda: signal.send(sender=None, channel=channel, **extra)
