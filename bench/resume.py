"""j. Resume: the server's time to answer a client 1,000 events behind.

In a worker process with a SQLite history (a file on /dev/shm when there is
one): 1,001 events stored on one channel and marked sent, then a durable
``EventStreamView`` asked, through Django's WSGI handler with a valid
``Grip-Sig``, for ``Last-Event-ID`` = the first event's id: the answer must
replay the other 1,000 in order in its first body and hold with ``prev-id``
set to the last. Per request, wall and CPU time, median over rounds. No
Pushpin: this is the server's share (the store read, the SSE framing, the
hold).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import procs
from bench.common import Result, Target, median, progress

TITLE = "j. Resume: server time to replay 1,000 missed events (durable EventStreamView, SQLite)"


def run(ctx, res: Result) -> None:
    missed = 100 if ctx.smoke else 1000
    rounds, n = (2, 2) if ctx.smoke else (15, 20)
    shm = Path("/dev/shm")
    db = (shm if shm.is_dir() else ctx.logdir) / f"grip-views-bench-resume-{os.getpid()}.sqlite3"
    db.unlink(missing_ok=True)
    progress(f"j/resume: {missed} missed events, {rounds} rounds of {n} requests")
    env = procs.child_env(
        DJANGO_SETTINGS_MODULE="bench.apps.settings_resume", BENCH_GRIP_KEY=ctx.key, BENCH_RESUME_DB=str(db)
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.resume_worker", str(missed), str(rounds), str(n)],
            env=env,
            cwd=str(procs.REPO),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        for leftover in db.parent.glob(db.name + "*"):
            leftover.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"bench.resume_worker failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    res.data = out
    res.check(
        f"the answer replays all {missed} missed events in order and holds from the last",
        out["status"].startswith("200")
        and out["hold"] == "stream"
        and out["replayed"] == missed
        and out["first"] == "data: event 1"
        and out["last"] == f"data: event {missed}"
        and out["last_id"] == f"id: {out['expected_last_id']}"
        and out["channel"] == f"resume; prev-id={out['expected_last_id']}",
        f"{out['status']}, hold {out['hold']!r}, {out['replayed']} replayed, {out['last_id']!r}, "
        f"Grip-Channel {out['channel']!r}",
    )
    wall = median([w for w, _ in out["times"]]) * 1e3
    cpu = median([c for _, c in out["times"]]) * 1e3
    res.tables.append(
        (
            f"one request {missed} events behind, median of {rounds} rounds of {n}",
            ["events replayed", "body", "wall ms", "CPU ms", "per event (CPU)"],
            [
                [
                    str(out["replayed"]),
                    f"{out['bytes']:,} B",
                    f"{wall:.2f}",
                    f"{cpu:.2f}",
                    f"{cpu / missed * 1e3:.1f} µs",
                ]
            ],
        )
    )
    # In a smoke run the same row, 100 events behind (its figure is not the goal's).
    res.targets.append(
        Target(f"server time to resume {missed:,} missed events (wall)", wall, 20, "<=", unit="ms")
    )
    ctx.plots.bars(
        res,
        "j_resume",
        f"j. One request {missed:,} events behind, durable EventStreamView on SQLite (lower is better)",
        ["wall", "CPU"],
        {"grip_views": {"wall": wall, "CPU": cpu}},
        "ms per request (median)",
    )
    res.notes.append(
        "The store is SQLite on tmpfs (the figure is grip_views' and the database's work, not a "
        "disk's); PostgreSQL and Redis are not measured by this row."
    )
