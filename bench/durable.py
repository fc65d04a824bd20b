"""l. Durable publishing: throughput to a real Pushpin, and the history store on
SQLite vs PostgreSQL vs Redis.

Each store runs in its own worker process (bench/durable_worker.py, settings
bench/apps/settings_durable.py) publishing to the bench's Pushpin: SQLite (a file
on /dev/shm when there is one), PostgreSQL and Redis (private servers on loopback,
from tests/servers.py, stopped by PID; PostgreSQL is skipped in a smoke run).

- Throughput: N ``publish(..., durable=True)`` calls, each in its own
  ``transaction.atomic()``, and batched (``BATCH`` publishes per transaction),
  timed until the process's sender thread (``GRIP_OUTBOX_THREAD``, the default) had
  sent every event and marked it sent (``OutboxSender.wait_idle``).
  Against django-grip's non-blocking burst of the same N (``publish(...,
  blocking=False)`` then ``wait_all_sent()``, benchmark c's ``_dg`` burst), in the
  same process. Variants interleaved round by round, after a warm-up round.
  Checked after every durable run: N events stored with ids 1..N, none left
  unsent, the sender counted N sent, no failed try, no channel left in the outbox.
- The floor: the same loops with the sender's wake-up turned off, interleaved
  with the others, so what storing and committing alone costs shows beside the
  rates.
- Delivery under a sustained burst: publishing for a few seconds, one per
  transaction and batched, each event's delay from its publish() call to Pushpin's
  answer to the publish request that carried it (median and p99), and how many
  were sent before the burst ended: whether the sender keeps up while requests write.
- The store alone: ``append`` one event at a time (autocommit), and the ``read``
  that replays 1,000 events; and benchmark j's resume request on each store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import procs
from bench.common import Result, Target, median, progress

TITLE = "l. Durable publishing: throughput to Pushpin, and the history store on SQLite vs PostgreSQL vs Redis"


def run(ctx, res: Result) -> None:
    pushpin = ctx.main_pushpin()
    events, batch, rounds, missed = (60, 20, 1, 100) if ctx.smoke else (2000, 100, 5, 1000)
    burst_s = 0.3 if ctx.smoke else 3.0
    shm = Path("/dev/shm")
    db = (shm if shm.is_dir() else ctx.logdir) / f"grip-views-bench-durable-{os.getpid()}.sqlite3"
    figures: dict[str, dict] = {}
    try:
        with procs.store_servers(ctx, res, "durable history store") as stores:
            stores["sqlite"] = {"BENCH_DURABLE_DB": str(db)}
            for name, extra in stores.items():
                progress(f"l/durable on {name}: {events} events x {rounds} rounds, batches of {batch}")
                env = procs.child_env(
                    DJANGO_SETTINGS_MODULE="bench.apps.settings_durable",
                    BENCH_DURABLE_STORE=name,
                    BENCH_GRIP_KEY=ctx.key,
                    BENCH_PUBLISH_URL=pushpin.publish_url,
                    **extra,
                )
                argv = [str(events), str(batch), str(rounds), str(missed), str(burst_s)]
                done = subprocess.run(
                    [sys.executable, "-m", "bench.durable_worker", *argv],
                    cwd=procs.REPO, env=env, capture_output=True, text=True, timeout=900,
                )  # fmt: skip
                if res.check(f"durable worker on {name}", done.returncode == 0, done.stderr[-2000:]):
                    figures[name] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        for leftover in db.parent.glob(db.name + "*"):
            leftover.unlink()
    res.data = figures

    for name, out in figures.items():
        # The evidence: the store holds ids 1..N and none is unsent (an event is marked sent
        # only once Pushpin answered 200 to its batch), no try failed, the outbox is empty.
        bad = [c for c in out["checks"] if not (c["stored"] == events and c["in_order"]) or c["unsent"]]
        counted = sum(c["sent_by_sender"] for c in out["checks"])
        res.check(
            f"{name}: every durable event stored (ids 1..{events:,}), sent, marked sent, accepted by Pushpin",
            not bad
            and not out["unsent_channels"]
            and out["failed_tries"] == 0
            and counted == len(out["checks"]) * events,
            f"{len(out['checks'])} runs of {events:,}; {len(bad)} short; outbox channels left "
            f"{out['unsent_channels']}; failed tries {out['failed_tries']}; "
            f"OutboxSender.stats['sent'] counted {counted:,} of {len(out['checks']) * events:,}",
        )
        resume = out["resume"]
        res.check(
            f"{name}: the resume request replays all {missed:,} missed events and holds",
            resume["replayed"] == missed and resume["hold"] == "stream" and out["replayed"] == missed,
            f"{resume['status']}, {resume['replayed']} replayed by the view, {out['replayed']} by read()",
        )

    def rate(name, kind):
        return median(figures[name]["rates"][kind])

    def ratio(name, kind):
        pairs = zip(figures[name]["rates"][kind], figures[name]["rates"]["django-grip"], strict=True)
        return median([a / b for a, b in pairs])

    res.tables.append(
        (
            f"events per second, {events:,} per run, median of {rounds} interleaved rounds "
            "(durable: until every event is stored, sent and marked sent)",
            ["store", "durable, 1 per transaction", f"durable, {batch} per transaction",
             "django-grip non-blocking burst", "1 per tx / django-grip", "batched / django-grip"],
            [
                [name, f"{rate(name, 'transaction'):,.0f}", f"{rate(name, 'batched'):,.0f}",
                 f"{rate(name, 'django-grip'):,.0f}", f"{ratio(name, 'transaction'):.2f}x",
                 f"{ratio(name, 'batched'):.2f}x"]
                for name in figures
            ],
        )
    )  # fmt: skip
    res.tables.append(
        (
            f"the floor: the same {events:,} durable publishes with the sender's wake-up turned off "
            f"(stored and committed, nothing sent), interleaved with the rounds above",
            ["store", "1 per transaction, not sent", f"{batch} per transaction, not sent",
             "1 per tx not sent / django-grip", "batched not sent / django-grip"],
            [
                [name, f"{rate(name, 'floor-transaction'):,.0f}", f"{rate(name, 'floor-batched'):,.0f}",
                 f"{ratio(name, 'floor-transaction'):.2f}x", f"{ratio(name, 'floor-batched'):.2f}x"]
                for name in figures
            ],
        )
    )  # fmt: skip
    res.tables.append(
        (
            f"delivery under a sustained burst: {burst_s:g} s of durable publishes on one channel; "
            "each event's delay from its publish() call to Pushpin's answer to the request that carried it "
            "(batched: the transaction's length included)",
            ["store", "mode", "published per s", "sent before the burst ended", "median delay ms",
             "p99 delay ms"],
            [
                [name, mode, f"{b['rate']:,.0f}", f"{b['during']:.0%}", f"{b['median_ms']:.1f}",
                 f"{b['p99_ms']:.1f}"]
                for name, out in figures.items()
                for mode, b in out["bursts"].items()
            ],
        )
    )  # fmt: skip
    store_ms = {
        name: {
            "append": out["append_s"] * 1e3,
            f"read {missed:,}": median(out["read_s"]) * 1e3,
            f"resume {missed:,}": median([w for w, _ in out["resume"]["times"]]) * 1e3,
        }
        for name, out in figures.items()
    }
    resume_cpu_ms = {
        name: median([c for _, c in out["resume"]["times"]]) * 1e3 for name, out in figures.items()
    }
    res.tables.append(
        (
            f"the history store: one append (autocommit), the read replaying {missed:,} events, "
            f"benchmark j's resume request {missed:,} behind (wall ms, medians)",
            ["store", "append ms", f"read of {missed:,} ms", "resume request ms", "resume CPU ms"],
            [
                [name, f"{ms['append']:.3f}", f"{ms[f'read {missed:,}']:.2f}",
                 f"{ms[f'resume {missed:,}']:.2f}", f"{resume_cpu_ms[name]:.2f}"]
                for name, ms in store_ms.items()
            ],
        )
    )  # fmt: skip
    res.notes.append(
        "SQLite is a file on tmpfs, PostgreSQL runs with fsync=off (tests/servers.py): the figures are "
        "grip_views' and the store's work, not a disk's. Pushpin is the bench's main instance; the "
        "published channels have no subscriber."
    )
    if "sqlite" in figures:
        for kind, what in (("transaction", "one per transaction"), ("batched", f"{batch} per transaction")):
            res.targets.append(
                Target(
                    f"durable publish on SQLite, {what} / django-grip's non-blocking burst "
                    f"({events:,} events)",
                    ratio("sqlite", kind),
                    2.0,
                    ">=",
                )
            )
    labels = {
        "transaction": "durable, 1 per transaction",
        "batched": f"durable, {batch} per transaction",
        "django-grip": "django-grip burst",
    }
    ctx.plots.bars(
        res,
        "l_durable_throughput",
        f"l. Publishing {events:,} events to Pushpin (higher is better)",
        list(figures),
        {label: {name: rate(name, kind) for name in figures} for kind, label in labels.items()},
        "events per second (median)",
    )
    ctx.plots.bars(
        res,
        "l_history_stores",
        f"l. History store: append, read of {missed:,}, resume request (lower is better)",
        list(next(iter(store_ms.values()))) if store_ms else [],
        store_ms,
        "ms (median)",
        log=True,
    )
