"""c. Publishing to a real Pushpin from one process: grip_views vs django-grip.

- blocking: one message per call, each call returning after Pushpin answered;
  messages per second.
- burst: N messages queued without blocking, then waiting until all were sent
  (grip_views: publish(..., blocking=False) + get_publisher().flush();
  django-grip: publish(..., blocking=False) + get_pubcontrol().wait_all_sent()).

Variants are interleaved round by round. The timed channels have no
subscriber; a separate, untimed burst per library goes to one stream
subscriber, which must receive every message.
"""

from __future__ import annotations

import asyncio
import time

from bench import clients
from bench.common import Result, Target, median, progress

TITLE = "c. Publishing to Pushpin from one process (grip_views vs django-grip)"


def _gv():
    import grip_views

    def blocking(channel, content):
        grip_views.publish(channel, _fmt(content))

    def burst(channel, n):
        for i in range(n):
            grip_views.publish(channel, _fmt(f"#{i}\n"), blocking=False)
        return grip_views.get_publisher().flush(60)

    return blocking, burst


def _dg():
    import django_grip

    def blocking(channel, content):
        django_grip.publish(channel, _fmt(content), blocking=True)

    def burst(channel, n):
        for i in range(n):
            django_grip.publish(channel, _fmt(f"#{i}\n"), blocking=False)
        django_grip.get_pubcontrol().wait_all_sent()
        return True

    return blocking, burst


def _fmt(content: str):
    from gripcontrol import HttpStreamFormat

    return HttpStreamFormat(content)


def run(ctx, res: Result) -> None:
    asyncio.run(_run(ctx, res))


async def _run(ctx, res: Result) -> None:
    pushpin = ctx.main_pushpin()
    port = int(pushpin.url.rsplit(":", 1)[1])
    libs = {"grip_views": _gv(), "django-grip": _dg()}
    smoke = ctx.smoke
    rounds = 2 if smoke else 5
    n_block = 20 if smoke else 300
    n_burst = 200 if smoke else 10_000
    loop = asyncio.get_running_loop()

    # correctness: every message of a burst reaches a subscriber
    for name, (blocking, burst) in libs.items():
        channel = f"pubcheck-{name}"
        subs, failed = await clients.open_streams(port, f"/gv/stream/{channel}/", 1, b"[stream open]")
        if not subs:
            res.check(f"{name}: subscriber opened", False, f"{failed} failed")
            continue
        sub = subs[0]
        ready = sub.expect(b"ready")
        await loop.run_in_executor(None, blocking, channel, "ready\n")
        await asyncio.wait_for(ready, 10)
        sub.count_lines = True
        ok = await loop.run_in_executor(None, burst, channel, n_burst)
        deadline = time.monotonic() + 30
        while sub.received_lines < n_burst and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        res.check(
            f"{name}: a burst of {n_burst:,} reaches a subscriber, all of it",
            ok and sub.received_lines == n_burst,
            f"received {sub.received_lines:,}",
        )
        sub.close()
    pub = __import__("grip_views").get_publisher()
    stats = dict(getattr(pub, "stats", {}))

    times: dict = {}
    order = list(libs)
    for r in range(rounds):
        progress(f"c/publish round {r + 1}/{rounds}")
        for name in order if r % 2 == 0 else order[::-1]:
            blocking, burst = libs[name]
            start = time.perf_counter()
            for i in range(n_block):
                blocking(f"block-{r}", f"m{i}\n")
            times.setdefault(("blocking", name), []).append(n_block / (time.perf_counter() - start))
        for name in order if r % 2 else order[::-1]:
            blocking, burst = libs[name]
            start = time.perf_counter()
            ok = burst(f"burst-{r}", n_burst)
            times.setdefault(("burst", name), []).append(n_burst / (time.perf_counter() - start))
            if not ok:
                res.check(f"{name}: burst sent within 60 s", False)

    after = dict(getattr(pub, "stats", {}))
    if after:
        res.check(
            "grip_views publisher reported no failed item", after.get("failed", 0) == 0, f"stats {after}"
        )

    def ratio(kind):
        return median(
            [a / b for a, b in zip(times[(kind, "grip_views")], times[(kind, "django-grip")], strict=True)]
        )

    rows = []
    for kind, what in (
        ("blocking", f"blocking, one message per call ({n_block} calls)"),
        ("burst", f"burst of {n_burst:,}, non-blocking then wait"),
    ):
        rows.append(
            [
                what,
                f"{median(times[(kind, 'grip_views')]):,.0f}",
                f"{median(times[(kind, 'django-grip')]):,.0f}",
                f"{ratio(kind):.2f}x",
            ]
        )
    res.tables.append(
        (
            f"messages per second, median of {rounds} interleaved rounds",
            ["publish", "grip_views", "django-grip", "grip_views / django-grip"],
            rows,
        )
    )
    res.notes.append(
        "django-grip's sender thread posts at most 10 items per request; "
        "grip_views batches up to GRIP_PUBLISH_BATCH_SIZE (default 500) items."
    )
    if stats:
        res.notes.append(f"grip_views publisher counters after the checked bursts: {stats}.")
    res.targets.append(
        Target(f"burst of {n_burst:,} / django-grip's non-blocking burst", ratio("burst"), 4.0, ">=")
    )
    res.targets.append(
        Target("blocking publish of one message / django-grip's", ratio("blocking"), 1.0, ">=")
    )
    res.data = {"msgs_per_s": {f"{k}|{n}": v for (k, n), v in times.items()}}
    ctx.plots.publish(
        res,
        {f"{kind}\n{name}": median(times[(kind, name)]) for kind in ("blocking", "burst") for name in libs},
        "c. Publishing to Pushpin (higher is better)",
    )
