"""The benchmark suite in smoke mode: every benchmark runs and gets correct results.

Only correctness is asserted (connections opened, echoes and publishes arrived,
codec round trips, every process stopped...). Speed and memory figures are
never asserted here. One test function, so that pytest-xdist runs the bench once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.pushpin

for _module in (
    "django_grip",
    "channels",
    "channels_redis",
    "daphne",
    "gunicorn",
    "websockets",
    "matplotlib",
    "zmq",
):
    pytest.importorskip(_module, reason="bench dependencies: pip install -r bench/requirements.txt")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_bench_smoke_runs_every_benchmark_correctly(tmp_path: Path) -> None:
    if shutil.which("pushpin") is None:
        pytest.skip("Pushpin is not installed (apt-get install -y pushpin)")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout[-4000:] + done.stderr[-4000:]
    results_file = tmp_path / "results.json"
    assert results_file.exists(), f"no results.json\n{output}"
    results = json.loads(results_file.read_text())

    from bench.run import BENCHMARKS  # every section of the bench

    for name in BENCHMARKS:
        bench = results["benchmarks"].get(name)
        assert bench is not None, f"{name} did not run"
        assert not bench["error"], f"{name} failed:\n{bench['error']}"
        assert bench["checks"], f"{name} checked nothing"
        failed = [c for c in bench["checks"] if not c["ok"]]
        assert not failed, f"{name}: {failed}"
        assert bench["tables"], f"{name} produced no table"
        assert bench["plots"], f"{name} drew no plot"
        assert bench["targets"] or name in ("proxy", "caches", "zmq", "htmx"), (
            f"{name} measured none of its targets"
        )

    report = (tmp_path / "RESULTS.md").read_text()
    assert "## Targets" in report and results["machine"]["cpu"] in report
    plots = [p for b in results["benchmarks"].values() for p in b["plots"]]
    assert all((tmp_path / p).stat().st_size > 0 for p in plots)

    started = results["started_processes"]
    assert started, "the bench recorded no process it started"
    alive = [(e["name"], pid) for e in started for pid in e["pids"] if _alive(pid)]
    assert not alive, f"left running: {alive}"
    assert done.returncode == 0, output
