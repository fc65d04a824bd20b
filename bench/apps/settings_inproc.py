"""Settings of the bench command's own process.

The in-process benchmark builds one WSGI or ASGI handler per variant, each
with its own middleware list (see bench/requests_inproc.py); publishing
benchmarks use GRIP_PROXIES from here.
"""

from bench.apps.settings_base import *  # noqa: F403

INSTALLED_APPS = ["grip_views"]
BENCH_VIEWS = ["gv", "dg", "plain", "jwt", "floor", "gva", "gvs"]
