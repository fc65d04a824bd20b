"""Settings of the htmx benchmark's worker (bench/htmx_worker.py).

Durable publishes need the history store: a SQLite file of its own, named by
the bench command (BENCH_HTMX_DB), migrated by the worker.
"""

import os
from pathlib import Path

from bench.apps.settings_base import *  # noqa: F403

INSTALLED_APPS = ["grip_views", "django_htmx", "grip_views.htmx"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("BENCH_HTMX_DB", ":memory:")}
}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [str(Path(__file__).resolve().parent / "templates")],
    }
]
