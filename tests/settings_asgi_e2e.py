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
