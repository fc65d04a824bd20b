"""Server running the hand-written variants (plain, and plain + one PyJWT check)."""

from bench.apps.settings_base import *  # noqa: F403

BENCH_VIEWS = ["plain", "jwt"]
