"""h. Presence: server time per join, leave and heartbeat, ``members()`` of a big room,
heartbeats per connection per minute, and the store's cost per connection per minute.

Each store runs in its own worker process (bench/presence_worker.py): SQLite (a WAL
file), PostgreSQL and Redis (private servers on loopback, from tests/servers.py, stopped
by PID). Times are wall time per call, through :mod:`grip_views.presence` (store and
announcing; publishes go to the in-memory publisher), medians over 5 rounds of 200 calls
after a warm-up round.
The cost per connection per minute is heartbeats per minute times one heartbeat; joins
and leaves come once per connection.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench import procs
from bench.common import Result, Target, median, progress

TITLE = "h. Presence: join, leave, heartbeat, members(), cost per connection per minute"
#: Server time a connected client may cost per minute on any store (heartbeats): at
#: most 5 ms, so one core keeps 12,000 members alive.
MAX_MS_PER_CONNECTION_MINUTE = 5.0


def _heartbeats_per_minute() -> dict[str, float]:
    """What Pushpin sends per connected client per minute at the default settings:
    a WebSocket's keep-alive requests (Keep-Alive-Interval: the heartbeat, >= 20 s)
    and a stream's next-link fetches (timeout=the heartbeat)."""
    from grip_views.presence.conf import presence_settings
    from grip_views.protocol.instructions import MIN_KEEP_ALIVE_INTERVAL

    beat = presence_settings.heartbeat
    return {"WebSocket": 60 / max(MIN_KEEP_ALIVE_INTERVAL, beat), "SSE / stream": 60 / beat}


def run(ctx, res: Result) -> None:
    members, rounds, ops = (50, 1, 10) if ctx.smoke else (10_000, 5, 200)
    figures = {}
    with procs.store_servers(ctx, res, "presence store") as stores:
        stores["sqlite"] = {"BENCH_PRESENCE_DB": str(ctx.logdir / "presence.sqlite3")}
        for name, extra in stores.items():
            progress(f"presence on {name}: {members} members, {rounds} rounds")
            env = procs.child_env(BENCH_PRESENCE_STORE=name, **extra)
            env["DJANGO_SETTINGS_MODULE"] = "bench.apps.settings_presence"
            done = subprocess.run(
                [sys.executable, "-m", "bench.presence_worker", str(members), str(rounds), str(ops)],
                cwd=procs.REPO, env=env, capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            if not res.check(f"presence worker on {name}", done.returncode == 0, done.stderr[-2000:]):
                continue
            figures[name] = json.loads(done.stdout)
    beats = _heartbeats_per_minute()
    ms = lambda name, op: median([w for w, _ in figures[name][op]]) * 1000  # noqa: E731
    rows = []
    for name in figures:
        beat = ms(name, "heartbeat")
        rows.append(
            [
                name,
                f"{ms(name, 'join'):.2f}",
                f"{ms(name, 'leave'):.2f}",
                f"{beat:.3f}",
                f"{ms(name, 'members'):.1f}",
                f"{ms(name, 'sweep_idle'):.3f}",
                f"{beat * beats['WebSocket']:.3f}",
            ]
        )
        res.data[name] = {op: ms(name, op) for op in figures[name]}
    res.tables.append(
        (
            f"ms per call (median of {rounds} rounds; members() of a room of {members:,} members)",
            [
                "store",
                "join",
                "leave",
                "heartbeat",
                "members()",
                "sweep, nothing due",
                "ms per connection-minute",
            ],
            rows,
        )
    )
    res.tables.append(
        (
            "heartbeat requests per connected client per minute (GRIP_PRESENCE_HEARTBEAT = 25)",
            ["transport", "requests per minute"],
            [[t, f"{n:.1f}"] for t, n in beats.items()],
        )
    )
    res.data["heartbeats_per_minute"] = beats
    for name in figures:
        per_minute = ms(name, "heartbeat") * max(beats.values())
        res.targets.append(
            Target(
                f"presence on {name}: server ms per connected client per minute",
                per_minute,
                MAX_MS_PER_CONNECTION_MINUTE,
                "<=",
                unit="ms",
                note=f"{max(beats.values()):.1f} heartbeats of {ms(name, 'heartbeat'):.3f} ms",
            )
        )
    ops = ["join", "leave", "heartbeat", "sweep_idle"]
    ctx.plots.bars(
        res,
        "h_presence",
        "h. Presence: ms per call on each store (lower is better)",
        ops,
        {name: {op: ms(name, op) for op in ops} for name in figures},
        "ms per call (median)",
        log=True,
    )
