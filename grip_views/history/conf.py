"""The history and outbox settings, validated where they are read.

Like :mod:`grip_views.conf`: read from ``django.conf.settings`` on each
access (``override_settings`` works), the same message at runtime and from
``manage.py check`` (``grip_views.E009``-``E011``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from ..exceptions import GripConfigurationError
from .base import HistoryBackend

__all__ = ["BACKENDS", "LazyStore", "backend_class", "build_store", "history_settings"]

#: The names GRIP_HISTORY_BACKEND takes besides a dotted path.
BACKENDS = {
    "database": "grip_views.history.database.DatabaseHistory",
    "redis": "grip_views.history.redis_store.RedisHistory",
}


def backend_class(setting: str, names: dict[str, str], base: type) -> type:
    """The store class a ``*_BACKEND`` setting names: "database" (its default),
    "redis", a dotted path or a class; a subclass of ``base``, else an error naming the setting."""
    value = getattr(django_settings, setting, "database")
    path = names.get(value, value) if isinstance(value, str) else value
    try:
        cls = import_string(path) if isinstance(path, str) else path
    except ImportError as exc:
        raise GripConfigurationError(
            f"{setting} {value!r} is not 'database', 'redis' nor an importable dotted path: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise GripConfigurationError(
            f"{setting} {value!r} is not a {base.__module__.rsplit('.', 1)[0]}.{base.__name__} subclass"
        )
    return cls


def _number(name: str, default: float | None, *, integer: bool, none: str | None = "keep everything") -> Any:
    """A positive number setting; None allowed (meaning ``none``) unless ``none`` is None."""
    value = getattr(django_settings, name, default)
    if value is None and none is not None:
        return None
    kind = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        what = "a positive integer" if integer else "a positive number of seconds"
        also = f" or None ({none})" if none is not None else ""
        raise GripConfigurationError(f"{name} must be {what}{also}, got {value!r}")
    return value


class StoreSettings:
    """What the history and presence settings share: the ``*_BACKEND`` setting that
    names the store class, and building that store (see ``build_store``)."""

    #: The setting, the names it takes besides a dotted path, the class stores subclass.
    backend_setting: str
    backend_names: dict[str, str]
    backend_base: type

    @property
    def backend(self) -> type:
        """The store class ``backend_setting`` names: "database" (default), "redis", or a dotted path."""
        return backend_class(self.backend_setting, self.backend_names, self.backend_base)

    def build_backend(self) -> Any:
        """A new store of that class, connected where the history settings say."""
        return build_store(self.backend)


class HistorySettings(StoreSettings):
    """Typed access to the ``GRIP_HISTORY_*`` and ``GRIP_OUTBOX_*`` settings;
    ``backend`` reads ``GRIP_HISTORY_BACKEND``."""

    backend_setting = "GRIP_HISTORY_BACKEND"
    backend_names = BACKENDS
    backend_base = HistoryBackend

    @property
    def redis_url(self) -> str:
        """``GRIP_HISTORY_REDIS_URL``: where the Redis backend keeps events."""
        value = getattr(django_settings, "GRIP_HISTORY_REDIS_URL", "redis://127.0.0.1:6379/0")
        if isinstance(value, str) and value.startswith(("redis://", "rediss://", "unix://")):
            return value
        raise GripConfigurationError(
            f"GRIP_HISTORY_REDIS_URL must be a redis://, rediss:// or unix:// URL, got {value!r}"
        )

    @property
    def redis_prefix(self) -> str:
        """``GRIP_HISTORY_REDIS_PREFIX``: put before every Redis key (``grip:``)."""
        value = getattr(django_settings, "GRIP_HISTORY_REDIS_PREFIX", "grip:")
        if isinstance(value, str):
            return value
        raise GripConfigurationError(f"GRIP_HISTORY_REDIS_PREFIX must be a string, got {value!r}")

    @property
    def database(self) -> str | None:
        """``GRIP_HISTORY_DATABASE``: the database alias of the database backend (the router's)."""
        value = getattr(django_settings, "GRIP_HISTORY_DATABASE", None)
        if value is not None and value not in django_settings.DATABASES:
            raise GripConfigurationError(
                f"GRIP_HISTORY_DATABASE {value!r} is not a database alias of DATABASES "
                f"({', '.join(django_settings.DATABASES)})"
            )
        return value  # type: ignore[no-any-return]

    @property
    def max_events(self) -> int | None:
        """``GRIP_HISTORY_MAX_EVENTS``: events kept per channel by ``grip_history_trim`` (10,000)."""
        return _number("GRIP_HISTORY_MAX_EVENTS", 10_000, integer=True)  # type: ignore[no-any-return]

    @property
    def max_age(self) -> float | None:
        """``GRIP_HISTORY_MAX_AGE``: seconds an event is kept by ``grip_history_trim`` (one day)."""
        return _number("GRIP_HISTORY_MAX_AGE", 86_400, integer=False)  # type: ignore[no-any-return]

    @property
    def outbox_retry_max(self) -> float:
        """``GRIP_OUTBOX_RETRY_MAX``: the longest wait between two tries of an unsent event (30 s)."""
        return _number("GRIP_OUTBOX_RETRY_MAX", 30.0, integer=False) or 30.0  # type: ignore[no-any-return]

    @property
    def outbox_thread(self) -> bool:
        """``GRIP_OUTBOX_THREAD``: True (default), the process's sender thread sends
        durable events after their commit, batching what commits meanwhile; False,
        the thread that committed sends them before it goes on."""
        value = getattr(django_settings, "GRIP_OUTBOX_THREAD", True)
        if isinstance(value, bool):
            return value
        raise GripConfigurationError(f"GRIP_OUTBOX_THREAD must be True or False, got {value!r}")


history_settings = HistorySettings()


def build_store(cls: type) -> Any:
    """A store of class ``cls``, connected where the history settings say: Redis stores
    (``uses_redis``) to ``GRIP_HISTORY_REDIS_URL``, database ones (``uses_database``) to
    ``GRIP_HISTORY_DATABASE``; any other class is built without arguments."""
    if getattr(cls, "uses_redis", False):
        return cls(history_settings.redis_url, history_settings.redis_prefix)
    if getattr(cls, "uses_database", False):
        return cls(history_settings.database)
    return cls()


class LazyStore:
    """A process's store, built by ``build`` on first use; ``reset()`` forgets it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._store: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        store = self._store
        if store is None:
            with self._lock:
                store = self._store
                if store is None:
                    store = self._store = self._build()
        return store

    def reset(self) -> None:
        with self._lock:
            self._store = None
