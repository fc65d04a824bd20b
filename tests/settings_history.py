"""Settings for the history tests run in their own processes (tests/history_worker.py).

``GV_DB``: ``postgres`` (with ``GV_PG_PORT``, ``GV_PG_USER``) or a SQLite file path;
``GV_HISTORY``: ``database`` or ``redis`` (with ``GV_REDIS_URL``).
"""

import os

from .settings import *  # noqa: F403

_db = os.environ.get("GV_DB", ":memory:")
if _db == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": os.environ["GV_PG_PORT"],
            "USER": os.environ["GV_PG_USER"],
            "NAME": "postgres",
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _db, "OPTIONS": {"timeout": 30}}}
GRIP_HISTORY_BACKEND = os.environ.get("GV_HISTORY", "database")
GRIP_PRESENCE_BACKEND = GRIP_HISTORY_BACKEND
GRIP_HISTORY_REDIS_URL = os.environ.get("GV_REDIS_URL", "redis://127.0.0.1:6379/0")
GRIP_HISTORY_REDIS_PREFIX = os.environ.get("GV_REDIS_PREFIX", "grip:")
