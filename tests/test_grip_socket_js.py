"""grip-socket.js (the package's browser WebSocket client) under Node's test runner, with a
fake WebSocket and fake timers: dropping repeated ids, resuming on a gap, paged replays, caught-up counts,
resets, backoff bounds and when it stops retrying (tests/js/grip_socket.test.js). In a
real browser through Pushpin: tests/e2e/test_demo.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_grip_socket_js_passes_its_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") in ("true", "1"):
            pytest.fail("Node.js is not installed: apt-get install -y nodejs")
        pytest.skip("Node.js is not installed: apt-get install -y nodejs")
    result = subprocess.run(
        [node, "--test", str(ROOT / "tests" / "js" / "grip_socket.test.js")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 10" in result.stdout


def test_the_static_file_is_package_data() -> None:
    """setup.py ships it in the wheel, where ``{% static 'grip_views/grip-socket.js' %}`` finds it."""
    from django.contrib.staticfiles import finders

    found = finders.find("grip_views/grip-socket.js")
    assert found is not None
    assert Path(found) == ROOT / "grip_views" / "static" / "grip_views" / "grip-socket.js"
    setup = (ROOT / "setup.py").read_text()
    assert '"static/grip_views/*.js"' in setup
