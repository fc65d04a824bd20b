"""Server running the grip_views variant."""

from bench.apps.settings_base import *  # noqa: F403

INSTALLED_APPS = ["grip_views"]
MIDDLEWARE = ["grip_views.middleware.GripMiddleware"]
BENCH_VIEWS = ["gv"]
