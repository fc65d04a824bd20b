"""Settings of the in-process worker for another grip_views tree (the 0.1 baseline).

bench/inproc_worker.py runs with that tree's ``grip_views`` first on the path.
Each variant resolves in its own URL list (bench/apps/urls.py
``VARIANT_URLCONFS``), as in the bench process, so the order here costs none
of them anything.
"""

import os

from bench.apps.settings_base import *  # noqa: F403

INSTALLED_APPS = ["grip_views"]
BENCH_VIEWS = ["gv01", "dg", "plain", "gv01a"]
if os.environ.get("BENCH_BASE_API") == "0.2":
    BENCH_VIEW_MODULES = {"gv01": "gv", "gv01a": "gv_async"}
