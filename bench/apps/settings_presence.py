"""Settings of the presence benchmark's worker (bench/presence_worker.py): the store
named by ``BENCH_PRESENCE_STORE`` (sqlite, postgres or redis), publishes kept in memory
so that only the app's own cost is measured."""

import os

from bench.apps.settings_base import *  # noqa: F403

INSTALLED_APPS = ["grip_views"]
_store = os.environ.get("BENCH_PRESENCE_STORE", "sqlite")
if _store == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": os.environ["BENCH_PG_PORT"],
            "USER": os.environ["BENCH_PG_USER"],
            "NAME": "postgres",
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_PRESENCE_DB", ":memory:"),
            "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"},
        }
    }
GRIP_PRESENCE_BACKEND = "redis" if _store == "redis" else "database"
GRIP_HISTORY_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
GRIP_PUBLISH_BACKEND = "grip_views.testing.InMemoryPublisher"
