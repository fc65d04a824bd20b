"""tests.settings for a real ASGI server behind a private Pushpin (see
tests/e2e/test_async_e2e.py): the proxy's key and publish URL come from the
environment."""

import os

from tests.settings import *  # noqa: F403

GRIP_PROXIES = [
    {
        "control_uri": os.environ["GRIP_E2E_PUBLISH_URL"],
        "control_iss": "pushpin",
        "key": os.environ["GRIP_E2E_KEY"],
        "verify_iss": "pushpin",
    }
]
GRIP_PUBLISH_BACKEND = "grip_views.publishing.HttpPublisher"


def sqlite_file_databases(path: str) -> dict:
    """DATABASES on a SQLite file that the test, the server and its restarts share;
    WAL: readers (replays) do not wait for the writer; writers wait up to 30 s, and
    begin IMMEDIATE so a request's transaction never fails to write after the sender
    thread wrote (grip_views.W006)."""
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            },
        }
    }
