"""Server running the django-grip 3.5.2 variant."""

from bench.apps.settings_base import *  # noqa: F403

MIDDLEWARE = ["django_grip.GripMiddleware"]
BENCH_VIEWS = ["dg"]
