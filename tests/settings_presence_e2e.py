"""tests.settings for the presence end-to-end test (tests/e2e/test_presence_e2e.py): the
views of tests.presence_urls under uvicorn behind a private Pushpin, presence in a SQLite
file (``GV_PRESENCE_DB``) that the test and ``grip_presence_sweep`` read too. The proxy,
key and publisher are those of tests.settings_asgi_e2e."""

import os

from tests.settings_asgi_e2e import *  # noqa: F403

ROOT_URLCONF = "tests.presence_urls"
DATABASES = sqlite_file_databases(os.environ["GV_PRESENCE_DB"])  # noqa: F405
GRIP_PUBLISH_TIMEOUT = 2
# Short, for the test: WebSocket keep-alives come every 20 s (Pushpin's minimum).
GRIP_PRESENCE_TTL = 24
GRIP_PRESENCE_HEARTBEAT = 20
