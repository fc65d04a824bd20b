"""Settings shared by every bench server and by the in-process benchmark.

The bench command passes the Pushpin publish URL and the signing key through the
environment, so the same modules work for every instance it starts.
"""

import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
DATABASES: dict = {}
ROOT_URLCONF = "bench.apps.urls"
INSTALLED_APPS: list[str] = []
# An empty base stack: every variant pays only for what its grip layer adds,
# which is the hardest baseline for the ratio targets.
MIDDLEWARE: list[str] = []
LOGGING_CONFIG = None

GRIP_KEY = os.environ.get("BENCH_GRIP_KEY", "bench-sig-key")
GRIP_PROXIES = [
    {
        "control_uri": os.environ.get("BENCH_PUBLISH_URL", "http://127.0.0.1:9"),
        "control_iss": "pushpin",
        "key": GRIP_KEY,
        "verify_iss": "pushpin",
    }
]
