"""c2. Publishing over ZeroMQ vs HTTP, through a real Pushpin (``--only zmq``).

One Pushpin with a PULL socket (``push_in_spec``) and a bound SUB socket
(``push_in_sub_specs``) as well as its HTTP publish port; three publishers in
the bench process, all grip_views': ``HttpPublisher`` (POST /publish/),
``ZmqPublisher`` with ``control_zmq_push_uri`` (PUSH) and with
``control_zmq_pub_uri`` (one PUB socket). Each publishes on a channel of its
own that one stream subscriber holds, so Pushpin handles every item (a PUB
socket would drop a channel nobody subscribed to before sending it).

- 1 item per call, blocking: calls per second. A ZeroMQ call returns once the
  message is queued, an HTTP one once Pushpin answered.
- 500 items per call, blocking (one POST of 500 for HTTP, 500 messages for
  ZeroMQ): items per second.
- delivered: a non-blocking burst, then until the subscriber has every item:
  items per second end to end, the figure that counts (Pushpin's own work is
  in it for all three).

Variants take turns round by round; figures are medians of the rounds.
"""

from __future__ import annotations

import asyncio
import time

from bench import clients
from bench.common import Result, median, progress

TITLE = "c2. Publishing over ZeroMQ (PUSH, PUB) vs HTTP, through one Pushpin"
VARIANTS = ["HTTP", "PUSH", "PUB"]


def _publishers(pushpin):
    from grip_views.conf import Proxy
    from grip_views.publishing import HttpPublisher
    from grip_views.zmq import ZmqPublisher

    return {
        "HTTP": HttpPublisher([Proxy(control_uri=pushpin.publish_url)]),
        "PUSH": ZmqPublisher([Proxy(zmq_push_uri=pushpin.push_in_uri, source="bench")]),
        "PUB": ZmqPublisher([Proxy(zmq_pub_uri=pushpin.push_in_sub_uris[0], source="bench")]),
    }


def _items(channel: str, n: int, start: int = 0) -> list[dict]:
    from gripcontrol import HttpStreamFormat

    from grip_views.publishing import make_item

    return [make_item(channel, HttpStreamFormat(f"#{start + i}\n")) for i in range(n)]


def run(ctx, res: Result) -> None:
    asyncio.run(_run(ctx, res))


async def _run(ctx, res: Result) -> None:
    gv = ctx.server("gv", "bench.apps.settings_gv")
    pushpin = ctx.pushpin("zmq", [f"* {gv.backend},over_http"], push_in_spec=True, push_in_sub_specs=True)
    port = int(pushpin.url.rsplit(":", 1)[1])
    smoke = ctx.smoke
    rounds = 2 if smoke else 5
    n_single = 20 if smoke else 500
    n_batches = 2 if smoke else 10
    n_burst = 500 if smoke else 10_000
    loop = asyncio.get_running_loop()
    pubs = _publishers(pushpin)
    subs = {}
    sent = dict.fromkeys(VARIANTS, 0)
    try:
        for name, pub in pubs.items():
            channel = f"zmq-bench-{name.lower()}"
            opened, failed = await clients.open_streams(port, f"/gv/stream/{channel}/", 1, b"[stream open]")
            if not opened:
                res.check(f"{name}: subscriber opened", False, f"{failed} failed")
                return
            sub = subs[name] = opened[0]
            # publish "ready" until it arrives: the subscription is in place at every hop
            ready = sub.expect(b"ready")
            deadline = time.monotonic() + 15
            while not ready.done() and time.monotonic() < deadline:
                await loop.run_in_executor(None, pub.publish_items, [_ready(channel)])
                await asyncio.sleep(0.1)
            if not res.check(f"{name}: the subscriber gets a publish", ready.done()):
                return
            sub.count_lines = True

        times: dict = {}
        for r in range(rounds):
            progress(f"c2/zmq round {r + 1}/{rounds}")
            order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
            for name in order:
                pub, channel = pubs[name], f"zmq-bench-{name.lower()}"
                single = [_items(channel, 1, sent[name] + i) for i in range(n_single)]
                start = time.perf_counter()
                for batch in single:
                    pub.publish_items(batch)
                elapsed = time.perf_counter() - start
                times.setdefault(("1 item per call", name), []).append(n_single / elapsed)
                sent[name] += n_single
                batches = [_items(channel, 500, sent[name] + 500 * i) for i in range(n_batches)]
                start = time.perf_counter()
                for batch in batches:
                    pub.publish_items(batch)
                elapsed = time.perf_counter() - start
                times.setdefault(("500 items per call", name), []).append(500 * n_batches / elapsed)
                sent[name] += 500 * n_batches
                times.setdefault(("delivered", name), []).append(
                    await _delivered(loop, pub, subs[name], channel, sent[name], n_burst)
                )
                sent[name] += n_burst
        for name, sub in subs.items():
            deadline = time.monotonic() + 30
            while sub.received_lines < sent[name] and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            res.check(
                f"{name}: the subscriber got every item ({sent[name]:,})",
                sub.received_lines == sent[name],
                f"received {sub.received_lines:,}",
            )
        for name, pub in pubs.items():
            res.check(f"{name}: no failed item", pub.stats["failed"] == 0, f"stats {pub.stats}")
    finally:
        for sub in subs.values():
            sub.close()
        for pub in pubs.values():
            pub.close(timeout=5)

    cases = ["1 item per call", "500 items per call", "delivered"]
    labels = {
        "1 item per call": f"1 item per call, blocking ({n_single} calls): calls/s",
        "500 items per call": f"500 items per call, blocking ({n_batches} calls): items/s",
        "delivered": f"burst of {n_burst:,} to one stream subscriber, until all arrived: items/s",
    }
    rows = []
    for case in cases:
        values = {v: median(times[(case, v)]) for v in VARIANTS}
        ratios = [
            median([z / h for z, h in zip(times[(case, v)], times[(case, "HTTP")], strict=True)])
            for v in ("PUSH", "PUB")
        ]
        rows.append([labels[case], *(f"{values[v]:,.0f}" for v in VARIANTS), *(f"{x:.2f}x" for x in ratios)])
    res.tables.append(
        (
            f"median of {rounds} rounds, variants taking turns",
            ["publish", "HTTP", "PUSH", "PUB", "PUSH / HTTP", "PUB / HTTP"],
            rows,
        )
    )
    res.notes.append(
        "A ZeroMQ publish returns once the message is queued in the app; an HTTP one once Pushpin "
        "accepted it. The delivered row waits for the subscriber in every case."
    )
    res.data = {"per_s": {f"{c}|{v}": times[(c, v)] for c in cases for v in VARIANTS}}
    if ctx.plots is not None:
        ctx.plots.bars(
            res,
            "c2_zmq",
            "c2. Publishing over HTTP, ZeroMQ PUSH and PUB (higher is better)",
            cases,
            {v: {c: median(times[(c, v)]) for c in cases} for v in VARIANTS},
            "per second (median)",
            log=True,
        )


def _ready(channel: str) -> dict:
    from gripcontrol import HttpStreamFormat

    from grip_views.publishing import make_item

    return make_item(channel, HttpStreamFormat("ready\n"))


async def _delivered(loop, pub, sub, channel: str, before: int, n: int) -> float:
    """Items per second from a non-blocking burst to the subscriber's last line."""
    deadline = time.perf_counter() + 60
    while sub.received_lines < before:  # the rows before are all in
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{sub.received_lines} of {before} delivered")
        await asyncio.sleep(0.01)
    items = _items(channel, n, before)
    start = time.perf_counter()
    await loop.run_in_executor(None, pub.publish_items, items, False)
    while sub.received_lines < before + n:
        if time.perf_counter() - start > 60:
            raise TimeoutError(f"{sub.received_lines - before} of {n} delivered in 60 s")
        await asyncio.sleep(0.002)
    return n / (time.perf_counter() - start)
