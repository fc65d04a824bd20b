"""Settings of the presence benchmark's worker (bench/presence_worker.py): the store
named by ``BENCH_PRESENCE_STORE`` (sqlite, postgres or redis), publishes kept in memory
so that only the app's own cost is measured."""

import os

from bench.apps.settings_base import *  # noqa: F403
from bench.apps.stores import WAL, databases

INSTALLED_APPS = ["grip_views"]
_store = os.environ.get("BENCH_PRESENCE_STORE", "sqlite")
DATABASES = databases(_store, os.environ.get("BENCH_PRESENCE_DB", ":memory:"), WAL)
GRIP_PRESENCE_BACKEND = "redis" if _store == "redis" else "database"
GRIP_HISTORY_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
GRIP_PUBLISH_BACKEND = "grip_views.testing.InMemoryPublisher"
