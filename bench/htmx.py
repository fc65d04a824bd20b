"""i. Live HTML: a change rendered and published as an htmx fragment vs as JSON.

Per change, in a worker process with a SQLite history (a file on /dev/shm) publishing to
the bench's Pushpin: ``broadcast_fragment()`` (render the template, wrap it in
``hx-swap-oob``, frame it as SSE, store it durably, send it after the commit)
against ``EventStreamView.publish_event(..., durable=True)`` of the same change
as JSON. Both pay the same store and send; the difference is the rendering.
The "only" rows build the payload without publishing. Wall time (the store
and the send are I/O), median over rounds; the variants take turns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import procs
from bench.common import Result, median, progress

TITLE = "i. Live HTML: render + publish per change (htmx fragment vs JSON)"


def run(ctx, res: Result) -> None:
    pushpin = ctx.main_pushpin()
    rounds, changes = (2, 20) if ctx.smoke else (5, 150)
    # On tmpfs when there is one: the figure is grip_views' work, not the disk's fsync.
    shm = Path("/dev/shm")
    db = (shm if shm.is_dir() else ctx.logdir) / f"grip-views-bench-htmx-{os.getpid()}.sqlite3"
    db.unlink(missing_ok=True)
    progress(f"i/htmx: {rounds} rounds of {changes} changes per variant")
    env = procs.child_env(
        DJANGO_SETTINGS_MODULE="bench.apps.settings_htmx",
        BENCH_PUBLISH_URL=pushpin.publish_url,
        BENCH_GRIP_KEY=ctx.key,
        BENCH_HTMX_DB=str(db),
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench.htmx_worker", str(rounds), str(changes)],
        env=env,
        cwd=str(procs.REPO),
        capture_output=True,
        text=True,
        timeout=600,
    )
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"bench.htmx_worker failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    res.data = out
    res.check(
        "every change was stored, and accepted by Pushpin",
        out["idle"] and out["unsent"] == [] and out["stored"] == out["published"],
        f"stored {out['stored']} of {out['published']}, unsent: {out['unsent']}",
    )
    t = {name: median(values) for name, values in out["times"].items()}
    rows = [
        [
            "render + publish (durable)",
            f"{t['html'] * 1e6:.0f} µs",
            f"{t['json'] * 1e6:.0f} µs",
            f"{t['html'] / t['json']:.2f}x",
        ],
        [
            "payload only (no publish)",
            f"{t['html (render only)'] * 1e6:.1f} µs",
            f"{t['json (encode only)'] * 1e6:.1f} µs",
            f"{t['html (render only)'] / t['json (encode only)']:.1f}x",
        ],
        ["SSE event size", f"{out['bytes']['html']} B", f"{out['bytes']['json']} B", ""],
    ]
    res.tables.append(
        (
            f"per change, median of {rounds} rounds of {changes}",
            ["", "htmx fragment", "JSON", "fragment / JSON"],
            rows,
        )
    )
    ctx.plots.bars(
        res,
        "i_htmx",
        "i. One change, as an htmx fragment and as JSON (lower is better)",
        ["render + publish (durable)", "payload only"],
        {
            "htmx fragment": {
                "render + publish (durable)": t["html"] * 1e6,
                "payload only": t["html (render only)"] * 1e6,
            },
            "JSON": {
                "render + publish (durable)": t["json"] * 1e6,
                "payload only": t["json (encode only)"] * 1e6,
            },
        },
        "µs per change (median)",
        log=True,
    )
    res.notes.append(
        "The fragment's extra cost per change is its rendering "
        f"({(t['html (render only)'] - t['json (encode only)']) * 1e6:.0f} µs here); the store and the send "
        "cost both the same."
    )
