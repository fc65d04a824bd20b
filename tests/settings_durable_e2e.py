"""tests.settings for the durable end-to-end test (tests/e2e/test_durable_e2e.py): the
durable views of tests.durable_urls under uvicorn behind a private Pushpin, with the
history in a SQLite file (``GV_DURABLE_DB``) so it survives the server's SIGKILL. The
proxy, key and publisher are those of tests.settings_asgi_e2e."""

import os

from tests.settings_asgi_e2e import *  # noqa: F403

ROOT_URLCONF = "tests.durable_urls"
DATABASES = sqlite_file_databases(os.environ["GV_DURABLE_DB"])  # noqa: F405
GRIP_PUBLISH_TIMEOUT = 2
GRIP_OUTBOX_RETRY_MAX = 0.5
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"grip_views": {"handlers": ["console"], "level": "WARNING"}},
}
