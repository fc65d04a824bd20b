"""Server running grip_views' sync views (gv) and their Async* twins (gvs),
for the comparison of servers behind Pushpin (bench/servers.py)."""

from bench.apps.settings_base import *  # noqa: F403

INSTALLED_APPS = ["grip_views"]
MIDDLEWARE = ["grip_views.middleware.GripMiddleware"]
BENCH_VIEWS = ["gv", "gvs"]
