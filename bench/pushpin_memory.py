"""f. Pushpin's memory per held connection, as shipped and as grip_views tunes it.

What sets it, read off each of Pushpin's services while 2,000 WebSockets, or
2,000 HTTP streams, are held (opened 50 at a time) through the grip_views hold
server by a fresh Pushpin, each connection checked by one publish that must
reach it once Pushpin's stats report every client subscribed:

- ``client_buffer_size``: condure, the connection manager, keeps two buffers of
  this size per client connection. Pushpin ships 8192; the harness uses 4096.
  A request whose header block does not fit is reset unanswered.
- ``client_maxconn``: condure reserves room for this many connections when it
  starts. Pushpin ships 50000; the harness uses 10000 (a per-instance cap).

Nothing else in pushpin.conf changes the figure: pushpin-proxy (its session
per connection) and pushpin-handler (subscriptions) keep what they keep
whatever the settings (tried here: debug, message_hwm, MALLOC_ARENA_MAX).
"""

from __future__ import annotations

import asyncio

from bench import clients, procs
from bench.common import Result, Target, median, progress
from bench.holding import _check_level, _gv_publish
from grip_views.testing.stats import PushpinStats

TITLE = "f. Pushpin's memory per held connection: as shipped and tuned"

CONFIGS = {
    "as shipped (8192, 50000)": {"client_buffer_size": 8192, "client_maxconn": 50000},
    "tuned (4096, 10000)": {"client_buffer_size": 4096, "client_maxconn": 10000},
}
SERVICES = ("condure", "pushpin-proxy", "pushpin-handler", "zurl")


def _rss_by_service(pushpin) -> dict[str, int]:
    """Median of 5 samples of each service's RSS, and the runner's."""
    pids = {"runner": pushpin.pid, **pushpin.child_pids}
    samples: dict[str, list[int]] = {name: [] for name in pids}
    for _ in range(5):
        for name, pid in pids.items():
            try:
                samples[name].append(procs.rss_bytes(pid))
            except OSError:
                samples[name].append(0)
    return {name: int(median(values)) for name, values in samples.items()}


def run(ctx, res: Result) -> None:
    asyncio.run(_run(ctx, res))


async def _run(ctx, res: Result) -> None:
    from django.test.utils import override_settings

    from grip_views.publishing import reset_publisher

    n = 20 if ctx.smoke else 2000
    server = ctx.server("pmem", "bench.apps.settings_gv")
    rows = []
    per_conn: dict[tuple[str, str], float] = {}
    idle: dict[str, int] = {}
    for label, options in CONFIGS.items():
        for mode in ("ws", "stream"):
            # A fresh Pushpin for each: what a closed connection used is not
            # given back to the system, so it would count for the next mode.
            name = f"pmem-{options['client_buffer_size']}-{mode}"
            pushpin = ctx.pushpin(name, [f"* {server.backend},over_http"], **options)
            port = int(pushpin.url.rsplit(":", 1)[1])
            channel = f"pmem-{mode}"
            with override_settings(GRIP_PROXIES=[pushpin.grip_proxy]), PushpinStats.of(pushpin) as stats:
                reset_publisher()
                await asyncio.sleep(0.5)
                before = _rss_by_service(pushpin)
                idle[label] = sum(before.values())
                progress(f"f/pmem {label}: {n:,} {mode} connections")
                if mode == "ws":
                    held, failed = await clients.open_websockets(f"ws://127.0.0.1:{port}/gv/ws/{channel}/", n)
                else:
                    held, failed = await clients.open_streams(
                        port, f"/gv/stream/{channel}/", n, b"[stream open]"
                    )

                # Every client subscribed before the one publish that checks them,
                # but a stream Pushpin closed (as in benchmark d) never subscribes.
                def subscribed(held=held, channel=channel, mode=mode) -> bool:
                    kept = len(held) if mode == "ws" else sum(not s.lost for s in held)
                    try:
                        stats.wait_subscribed(channel, 1, subscribers=kept, mode=mode)
                    except TimeoutError:
                        return False
                    return True

                for _ in range(60):
                    if await asyncio.to_thread(subscribed):
                        break
                after = _rss_by_service(pushpin)
                checks = await _check_level(
                    res,
                    f"Pushpin {label} {mode}",
                    n,
                    held,
                    failed,
                    mode,
                    lambda text, ch=channel, m=mode: _gv_publish(ch, text, m),
                )
                growth = {k: (after[k] - before.get(k, 0)) / n / 1024 for k in after}
                per_conn[(label, mode)] = (sum(after.values()) - sum(before.values())) / n / 1024
                rows.append(
                    [
                        label,
                        "WebSocket" if mode == "ws" else "HTTP stream",
                        f"{n:,}",
                        f"{sum(before.values()) / 2**20:.1f}",
                        f"{per_conn[(label, mode)]:.1f}",
                        *(f"{growth.get(s, 0.0):.1f}" for s in SERVICES),
                        checks,
                    ]
                )
                if mode == "ws":
                    await clients.close_websockets(held)
                else:
                    for s in held:
                        s.close()
                reset_publisher()
            ctx.stop(name)
    ctx.stop("pmem")

    res.tables.append(
        (
            f"Pushpin RSS (all its processes) per held connection, KiB, at {n:,} connections "
            "(median of 5 samples); idle = before any connection",
            [
                "pushpin.conf (client_buffer_size, client_maxconn)",
                "connection",
                "held",
                "idle MiB",
                "KiB per connection",
                *(f"{s} KiB" for s in SERVICES),
                "checks",
            ],
            rows,
        )
    )
    shipped, tuned = list(CONFIGS)
    for mode in ("ws", "stream"):
        kind = "WebSocket" if mode == "ws" else "stream"
        res.targets.append(
            Target(
                f"Pushpin KiB per held {kind}: tuned / as shipped",
                per_conn[(tuned, mode)] / per_conn[(shipped, mode)],
                1.0,
                "<=",
                note=f"{per_conn[(shipped, mode)]:.1f} -> {per_conn[(tuned, mode)]:.1f} KiB",
            )
        )
    res.notes.append(
        f"Idle Pushpin: {idle[shipped] / 2**20:.1f} MiB as shipped, {idle[tuned] / 2**20:.1f} MiB tuned "
        "(condure reserves room for client_maxconn connections at start)."
    )
    res.data = {"per_connection_kib": {f"{k[0]} / {k[1]}": v for k, v in per_conn.items()}, "idle": idle}
    ctx.plots.bars(
        res,
        "f_pushpin_memory",
        "f. Pushpin RSS per held connection (lower is better)",
        ["ws", "stream"],
        {label: {mode: per_conn[(label, mode)] for mode in ("ws", "stream")} for label in CONFIGS},
        "KiB per connection",
    )
