"""g. The server behind the proxy: gunicorn sync, gunicorn gthread, uvicorn.

The same grip_views views (bench/apps/views_gv.py) served three ways, each
behind its own Pushpin, measured as a2 measures them (the load generator of
bench/requests_proxy.py: 50 requests in flight; the server process's CPU time
per request, from /proc): gunicorn with one sync worker (a new backend
connection per request), gunicorn with one gthread worker of 4 threads (keeps
Pushpin's connections alive), and uvicorn (one process, ASGI: sync views run
in a thread through asgiref), under which the ``Async*`` views (``gvs``: the
same sync hooks) are measured too. Rounds interleave the servers. Long-polls
are checked, not timed (see a2's note on Pushpin 1.36).
"""

from __future__ import annotations

import asyncio

from bench.common import Result, Target, median, progress
from bench.requests_inproc import CASES
from bench.requests_proxy import _batch, _sample

TITLE = "g. The server behind the proxy: gunicorn sync, gunicorn gthread, uvicorn"

#: (server kind, views variant, label)
SETUPS = [
    ("gunicorn", "gv", "gunicorn sync"),
    ("gthread", "gv", "gunicorn gthread (4 threads)"),
    ("uvicorn", "gv", "uvicorn, sync views"),
    ("uvicorn", "gvs", "uvicorn, Async* views"),
]


def run(ctx, res: Result) -> None:
    asyncio.run(_run(ctx, res))


async def _run(ctx, res: Result) -> None:
    smoke = ctx.smoke
    rounds = 1 if smoke else 3
    n = 10 if smoke else 400
    ports = {}
    for kind in dict.fromkeys(kind for kind, _, _ in SETUPS):
        server = ctx.server(f"srv-{kind}", "bench.apps.settings_servers", kind=kind)
        pushpin = ctx.pushpin(f"srv-{kind}", [f"* {server.backend},over_http"])
        ports[kind] = (
            int(pushpin.url.rsplit(":", 1)[1]),
            int(pushpin.publish_url.rsplit(":", 1)[1]),
            server.request_pid(),
        )
    for kind, variant, label in SETUPS:
        port, pub_port, _ = ports[kind]
        for case in CASES:
            why = await _sample(case, variant, port, pub_port, f"srv-{kind}-{variant}-{case}")
            res.check(f"{case} {label}: correct answer through Pushpin", not why, why)

    timed = [c for c in CASES if c != "longpoll"]
    data: dict = {}
    failures = 0
    for r in range(rounds):
        for case in timed:
            progress(f"g/servers round {r + 1}/{rounds}: {case}")
            order = SETUPS[r % len(SETUPS) :] + SETUPS[: r % len(SETUPS)]
            for kind, variant, label in order:
                port, pub_port, pid = ports[kind]
                ok, statuses, elapsed, cpu = await _batch(case, variant, port, pub_port, pid, n, f"srv-{r}")
                failures += sum(count for status, count in statuses.items() if status != 200)
                data.setdefault((case, label), []).append((ok / elapsed, cpu / 1e3 / max(ok, 1)))
                progress(f"    {label}: {ok}/{n} ok in {elapsed:.2f} s, server CPU {cpu / 1e6:.1f} ms")
    res.check("every request through Pushpin answered 200", failures == 0, f"{failures} failed")

    labels = [label for _, _, label in SETUPS]
    rows = []
    for case in timed:
        base = median([x[1] for x in data[(case, labels[0])]])
        row = [case]
        for label in labels:
            cpu = median([x[1] for x in data[(case, label)]])
            rps = median([x[0] for x in data[(case, label)]])
            row.append(f"{cpu:.0f} µs ({cpu / base:.2f}x), {rps:,.0f}/s")
        rows.append(row)
    res.tables.append(
        (
            f"server process CPU µs per request (ratio to gunicorn sync), and requests/s seen by the "
            f"client; {n} requests or messages per batch, 50 in flight, median of {rounds} interleaved "
            "rounds; ws_textN per message",
            ["case", *labels],
            rows,
        )
    )
    res.notes.append(
        "requests/s shares the two cores with Pushpin and the load generator: "
        "compare the CPU columns, which are the server's own cost."
    )
    res.data = {f"{case} / {label}": values for (case, label), values in data.items()}
    cpu = {label: {case: median([x[1] for x in data[(case, label)]]) for case in timed} for label in labels}
    # The README's recommendation, kept honest: gthread costs no more than sync
    # in the single-request cases (ws_text100 depends on Pushpin's bundling);
    # 1.05 allows for rounds' noise where both cost the same (ws_open).
    single = [c for c in timed if c != "ws_text100"]
    res.targets.append(
        Target(
            "servers: gunicorn gthread / sync CPU per request, worst of " + ", ".join(single),
            max(cpu[labels[1]][c] / cpu[labels[0]][c] for c in single),
            1.05,
            "<=",
        )
    )
    ctx.plots.bars(
        res,
        "g_servers",
        "g. Server CPU per request behind Pushpin (lower is better)",
        timed,
        cpu,
        "CPU µs per request",
        log=True,
    )
    for kind in ports:
        ctx.stop(f"srv-{kind}")
