"""a2. Server cost per request through Pushpin, with a load generator on loopback.

One gunicorn server (one sync worker) per variant behind one Pushpin (routes by
path prefix). The load generator keeps 50 requests in flight. Two figures per
variant: requests per second seen by the client (the whole chain, load
generator and Pushpin included, shares two cores), and the CPU time the
variant's gunicorn worker spent per request (from /proc schedstat), which is the
server's cost.

- stream: GET, read the initial body, hang up (Pushpin holds, Django does not)
- longpoll: only checked (one request, released by publishing), not timed: see
  the note on Pushpin 1.36 in RESULTS.md
- ws_open: a real WebSocket opened and closed through Pushpin; the server
  sees two requests per connection (OPEN, then CLOSE)
- ws_textN: 50 open WebSockets, each sending N messages of 20 bytes at once and
  reading the N echoes, again and again; Pushpin forwards the messages that
  arrive together as one request, so the figures are per message
"""

from __future__ import annotations

import asyncio
import json

from bench import clients, procs
from bench.common import Result, median, progress
from bench.requests_inproc import CASES, LABELS

VARIANTS = ["gv", "dg", "plain", "jwt"]
SERVER_OF = {"gv": "gv", "dg": "dg", "plain": "plain", "jwt": "plain"}


def _parse(raw: bytes) -> tuple[str, dict, bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return head[0][9:], headers, clients.body_of(raw)


async def _releaser(
    pub_port: int, channel: str, stop: asyncio.Event, delay: float = 0.3, every: float = 0.05
) -> None:
    """Publish the long-poll release until stopped, starting once the hold is
    in place (publishing before the hold arrives upsets Pushpin 1.36)."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
        return
    except asyncio.TimeoutError:
        pass
    item = json.dumps(
        {"items": [{"channel": channel, "formats": {"http-response": {"body": "released\n"}}}]}
    ).encode()
    request = clients.post_request(pub_port, "/publish/", item, "application/json")
    while not stop.is_set():
        try:
            await clients.exchange(pub_port, request, timeout=5)
        except (OSError, asyncio.TimeoutError, TimeoutError):
            pass
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass


def _one(case: str, variant: str, port: int, tag: str):
    suffix = CASES[case][1]
    path = f"/{variant}/{suffix.replace('test', tag)}"
    if case == "stream":
        request, until = clients.get_request(port, path), b"[stream open]"
    else:
        request, until = clients.get_request(port, path), b"released"

    async def make(i: int):
        raw = await clients.exchange(port, request, until=until, timeout=20)
        return clients.status_of(raw)

    return make


async def _ws_open_close(port: int, path: str) -> int:
    import websockets

    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}{path}", ping_interval=None, compression=None, open_timeout=20, close_timeout=5
    )
    await ws.close()
    return 200


async def _ws_batch(case, variant, port, worker_pid, n):
    """ws_open: n connections opened and closed, 50 at a time. ws_textN: n
    messages echoed over 50 connections, N messages at a time per connection."""
    path = f"/{variant}/ws/echo-{variant}/"
    if case == "ws_open":
        before = procs.cpu_ns(worker_pid)
        ok, statuses, elapsed = await clients.run_load(lambda i: _ws_open_close(port, path), n)
        return ok, statuses, elapsed, procs.cpu_ns(worker_pid) - before
    per = int(case[len("ws_text") :])
    sockets, failed = await clients.open_websockets(f"ws://127.0.0.1:{port}{path}", min(50, n))
    message = "0123456789abcdefghij"
    # enough messages that one batch takes a measurable time
    target = int(n * {1: 1, 10: 2.5, 100: 6.25}.get(per, 1))
    rounds_each = max(1, target // (per * len(sockets))) if sockets else 0
    wrong = 0

    async def talk(ws):
        nonlocal wrong
        for _ in range(rounds_each):
            await asyncio.gather(*(ws.send(message) for _ in range(per)))
            for _ in range(per):
                got = await asyncio.wait_for(ws.recv(), 20)
                wrong += got != message

    await asyncio.gather(*(ws.send(message) for ws in sockets))  # one round trip first
    await asyncio.gather(*(asyncio.wait_for(ws.recv(), 20) for ws in sockets))
    before = procs.cpu_ns(worker_pid)
    start = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(talk(ws) for ws in sockets), return_exceptions=True)
    elapsed = asyncio.get_running_loop().time() - start
    cpu = procs.cpu_ns(worker_pid) - before
    errors = sum(isinstance(r, BaseException) for r in results)
    await clients.close_websockets(sockets)
    sent = rounds_each * per * len(sockets)
    statuses = {200: sent - wrong - errors * rounds_each * per}
    if failed or wrong or errors:
        statuses["failed"] = failed + wrong + errors
    return statuses[200], statuses, elapsed, cpu


async def _batch(case, variant, pushpin_port, pub_port, worker_pid, n, tag):
    if case.startswith("ws_"):
        return await _ws_batch(case, variant, pushpin_port, worker_pid, n)
    stop = asyncio.Event()
    rel = None
    if case == "longpoll":
        rel = asyncio.ensure_future(_releaser(pub_port, tag, stop))
    before = procs.cpu_ns(worker_pid)
    ok, statuses, elapsed = await clients.run_load(_one(case, variant, pushpin_port, tag), n)
    cpu = procs.cpu_ns(worker_pid) - before
    stop.set()
    if rel is not None:
        await rel
    return ok, statuses, elapsed, cpu


async def _sample(case, variant, port, pub_port, tag):
    """One request or WebSocket through Pushpin; '' when its answer is right."""
    suffix = CASES[case][1]
    path = f"/{variant}/{suffix.replace('test', tag)}"
    if case == "stream":
        raw = await clients.exchange(
            port, clients.get_request(port, path), until=b"[stream open]\n\r\n", timeout=10
        )
        st, _, b = _parse(raw)
        return "" if st.startswith("200") and b.startswith(b"[stream open]") else f"{st} {b[:40]!r}"
    if case == "longpoll":
        stop = asyncio.Event()
        rel = asyncio.ensure_future(_releaser(pub_port, tag, stop))
        raw = await clients.exchange(port, clients.get_request(port, path), until=b"released\n", timeout=10)
        stop.set()
        await rel
        st, _, b = _parse(raw)
        return "" if st.startswith("200") and b"released" in b else f"{st} {b[:40]!r}"
    import websockets

    async with websockets.connect(
        f"ws://127.0.0.1:{port}{path}", ping_interval=None, compression=None, open_timeout=10
    ) as ws:
        if case == "ws_open":
            return ""
        n = int(case[len("ws_text") :])
        for i in range(n):
            await ws.send(f"echo {i:02d} 0123456789")
        got = [await asyncio.wait_for(ws.recv(), 10) for _ in range(n)]
        want = [f"echo {i:02d} 0123456789" for i in range(n)]
        return "" if got == want else f"echoes {got[:3]!r}"


TITLE = "a2. Server cost per request through Pushpin (gunicorn, one sync worker)"


def run(ctx, res: Result) -> None:
    asyncio.run(_run(ctx, res))


async def _run(ctx, res: Result) -> None:
    pushpin = ctx.main_pushpin()
    port = int(pushpin.url.rsplit(":", 1)[1])
    pub_port = int(pushpin.publish_url.rsplit(":", 1)[1])
    workers = {v: ctx.servers[SERVER_OF[v]].request_pid() for v in VARIANTS}
    smoke = ctx.smoke
    rounds = 1 if smoke else 5
    n = 10 if smoke else 800

    for case in CASES:
        for v in VARIANTS:
            why = await _sample(case, v, port, pub_port, f"chk-{v}-{case}")
            res.check(f"{case} {v} through Pushpin: correct answer", not why, why)

    data: dict = {}
    errors: dict = {}
    timed = [c for c in CASES if c != "longpoll"]
    for r in range(rounds):
        for case in timed:
            progress(f"a2/through Pushpin round {r + 1}/{rounds}: {case}")
            rotated = VARIANTS[r % 4 :] + VARIANTS[: r % 4]
            for v in rotated:
                ok, statuses, elapsed, cpu = await _batch(
                    case, v, port, pub_port, workers[v], n, f"lp-{v}-{r}"
                )
                data.setdefault((case, v), []).append((ok / elapsed, cpu / 1e3 / max(ok, 1)))
                progress(f"    {v}: {ok}/{n} ok in {elapsed:.2f} s, worker CPU {cpu / 1e6:.1f} ms")
                for status, count in statuses.items():
                    if status != 200:
                        errors[(case, v, status)] = errors.get((case, v, status), 0) + count
    total = len(timed) * len(VARIANTS) * rounds * n
    bad = sum(errors.values())
    res.check(
        "every request through Pushpin answered 200", bad == 0, f"{bad} of {total}: {errors}" if bad else ""
    )

    def med(case, v, i):
        return median([x[i] for x in data[(case, v)]])

    def ratio(case, a, b):
        pairs = zip(data[(case, a)], data[(case, b)], strict=True)
        return median([x[1] / y[1] for x, y in pairs if y[1]])

    rows, plot = [], {}
    for case in timed:
        row = [case]
        for v in VARIANTS:
            row.append(f"{med(case, v, 0):,.0f} / {med(case, v, 1):.0f}")
            plot[(case, LABELS[v])] = {"rps": med(case, v, 0), "cpu": med(case, v, 1)}
        row += [
            f"{ratio(case, 'gv', 'plain'):.2f}x",
            f"{ratio(case, 'gv', 'jwt'):.2f}x",
            f"{ratio(case, 'gv', 'dg'):.2f}x",
        ]
        rows.append(row)
    res.tables.append(
        (
            f"requests/s (client) / worker CPU µs per request; stream: {n} requests per batch, "
            f"50 in flight; ws_open: {n} connections opened and closed (OPEN + CLOSE requests), "
            f"50 at a time; ws_textN: per message, 50 connections; median of {rounds} interleaved "
            "rounds; ratios compare worker CPU per request",
            ["case"] + [LABELS[v] for v in VARIANTS] + ["gv / plain", "gv / plain+JWT", "gv / dg"],
            rows,
        )
    )
    res.notes.append(
        "Worker CPU per request includes gunicorn's own HTTP handling (the same "
        "for every variant), so these ratios are closer to 1 than in process."
    )
    res.notes.append(
        "Long-polls are not timed through Pushpin: releasing held long-polls by "
        "publishing while new ones keep arriving (a publish every 10 ms, 50 in "
        "flight) makes Pushpin 1.36 stop delivering http-response publishes: the "
        "handler logs 'relaying to 1 http-response subscribers' and the client "
        "never gets the response. Seen with grip_views, django-grip and by hand "
        "with curl; gone with 1.5 s between long-polls. The in-process figures "
        "(a1) cover the long-poll hold."
    )
    res.notes.append(
        "The load generator opens at most 50 connections at a time: Pushpin 1.36 "
        "answers bursts of more than ~200 simultaneous new requests with some "
        "`502 Error while proxying to origin`, a limit of the proxy, not of the "
        "servers measured."
    )
    res.data = {"rps_cpu": {f"{c}|{v}": d for (c, v), d in data.items()}}
    labels = [LABELS[v] for v in VARIANTS]
    ctx.plots.proxy(
        res,
        plot,
        timed,
        labels,
        "cpu",
        "worker CPU µs per request",
        "a2_proxy_cpu",
        "a2. Server CPU per request through Pushpin (lower is better)",
    )
    ctx.plots.proxy(
        res,
        plot,
        timed,
        labels,
        "rps",
        "requests per second",
        "a2_proxy_rps",
        "a2. Requests per second through Pushpin (higher is better)",
    )
