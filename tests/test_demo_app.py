"""The demo project's own tests (demo/demo/tests.py, demo/demo_api/tests.py).

The demo is a second Django project with its own settings, so its tests run
the way a user of it runs them, ``python manage.py test`` in ``demo/``, in a
child process; with ``--debug-mode``, as ``python demo/run.py`` serves it.
(tests/e2e/test_demo.py serves it through Pushpin with DEBUG off.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "demo"


def test_the_demo_projects_own_tests_pass() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GRIP_", "DEMO_"))}
    env["DJANGO_SETTINGS_MODULE"] = "demo.settings"  # pytest-django set the suite's own
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "--debug-mode", "--verbosity=2"],
        cwd=DEMO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for module in ("demo.tests", "demo.test_chat", "demo_api.tests"):  # all found, none skipped
        assert f"({module}." in result.stderr, result.stderr
    assert "skipped" not in result.stderr, result.stderr
