"""Settings of the resume benchmark's worker (bench/resume_worker.py): a durable
EventStreamView and the history store in a SQLite file of its own (BENCH_RESUME_DB)."""

import os

from bench.apps.settings_base import *  # noqa: F403

INSTALLED_APPS = ["grip_views"]
ROOT_URLCONF = "bench.apps.urls_resume"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("BENCH_RESUME_DB", ":memory:")}
}
MIDDLEWARE = ["grip_views.middleware.GripMiddleware"]
