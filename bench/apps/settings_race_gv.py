"""The race's grip_views server (bench/race.py): the chat room beside the bench
views (Pushpin's warm-up holds a /gv/ stream). Publishes to the race's own
Pushpin, whose publish URL the race passes as BENCH_PUBLISH_URL."""

from bench.apps.settings_base import *  # noqa: F403

INSTALLED_APPS = ["grip_views"]
MIDDLEWARE = ["grip_views.middleware.GripMiddleware"]
BENCH_VIEWS = ["gv", "chat"]
