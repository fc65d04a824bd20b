"""Settings of the durable benchmark's worker (bench/durable_worker.py): the history
store named by ``BENCH_DURABLE_STORE`` (sqlite, postgres or redis), the resume
benchmark's durable EventStreamView, and the bench's Pushpin (GRIP_PROXIES)."""

import os

from bench.apps.settings_base import *  # noqa: F403
from bench.apps.stores import WAL, databases

INSTALLED_APPS = ["grip_views"]
ROOT_URLCONF = "bench.apps.urls_resume"
MIDDLEWARE = ["grip_views.middleware.GripMiddleware"]
_store = os.environ.get("BENCH_DURABLE_STORE", "sqlite")
# SQLite as the README advises beside the sender thread: WAL, IMMEDIATE transactions.
DATABASES = databases(_store, os.environ.get("BENCH_DURABLE_DB", ":memory:"), WAL)
GRIP_HISTORY_BACKEND = "redis" if _store == "redis" else "database"
GRIP_HISTORY_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
