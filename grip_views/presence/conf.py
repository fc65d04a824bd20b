"""The presence settings, validated where they are read (``grip_views.E016``).

``GRIP_PRESENCE_BACKEND`` is chosen as ``GRIP_HISTORY_BACKEND`` is, and the
stores share the history's connection settings: ``GRIP_HISTORY_DATABASE`` for
the database store, ``GRIP_HISTORY_REDIS_URL`` and ``GRIP_HISTORY_REDIS_PREFIX``
for Redis.
"""

from __future__ import annotations

from ..exceptions import GripConfigurationError
from ..history.conf import StoreSettings, _number
from .base import PresenceBackend

__all__ = ["BACKENDS", "presence_settings"]

#: The names GRIP_PRESENCE_BACKEND takes besides a dotted path.
BACKENDS = {
    "database": "grip_views.presence.database.DatabasePresence",
    "redis": "grip_views.presence.redis_store.RedisPresence",
}


class PresenceSettings(StoreSettings):
    """Typed access to the ``GRIP_PRESENCE_*`` settings; ``backend`` reads ``GRIP_PRESENCE_BACKEND``."""

    backend_setting = "GRIP_PRESENCE_BACKEND"
    backend_names = BACKENDS
    backend_base = PresenceBackend

    @property
    def ttl(self) -> float:
        """``GRIP_PRESENCE_TTL``: seconds an entry lives after its last heartbeat (60)."""
        ttl: float = _number("GRIP_PRESENCE_TTL", 60, integer=False, none=None)
        heartbeat = self.heartbeat
        if ttl <= heartbeat:
            raise GripConfigurationError(
                f"GRIP_PRESENCE_TTL ({ttl!r}) must be longer than GRIP_PRESENCE_HEARTBEAT ({heartbeat!r}): "
                "every live connection would expire between two heartbeats"
            )
        return ttl

    @property
    def heartbeat(self) -> int:
        """``GRIP_PRESENCE_HEARTBEAT``: seconds between the proxy's heartbeats of a
        stream (its next link's timeout) and of a WebSocket (``Keep-Alive-Interval``,
        at least Pushpin's 20) (25)."""
        return _number("GRIP_PRESENCE_HEARTBEAT", 25, integer=True, none=None)  # type: ignore[no-any-return]

    @property
    def debounce(self) -> float:
        """``GRIP_PRESENCE_DEBOUNCE``: seconds a channel must stay empty before
        ``channel_vacated`` (5); refilled sooner, neither signal is sent."""
        return _number("GRIP_PRESENCE_DEBOUNCE", 5, integer=False, none=None)  # type: ignore[no-any-return]


presence_settings = PresenceSettings()
