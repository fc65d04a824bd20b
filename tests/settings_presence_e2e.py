"""tests.settings for the presence end-to-end test (tests/e2e/test_presence_e2e.py): the
views of tests.presence_urls under uvicorn behind a private Pushpin, presence in a SQLite
file (``GV_PRESENCE_DB``) that the test and ``grip_presence_sweep`` read too."""

import os

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.presence_urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["GV_PRESENCE_DB"],
        "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"},
    }
}
GRIP_PROXIES = [
    {
        "control_uri": os.environ["GRIP_E2E_PUBLISH_URL"],
        "control_iss": "pushpin",
        "key": os.environ["GRIP_E2E_KEY"],
        "verify_iss": "pushpin",
    }
]
GRIP_PUBLISH_BACKEND = "grip_views.publishing.HttpPublisher"
GRIP_PUBLISH_TIMEOUT = 2
# Short, for the test: WebSocket keep-alives come every 20 s (Pushpin's minimum).
GRIP_PRESENCE_TTL = 24
GRIP_PRESENCE_HEARTBEAT = 20
