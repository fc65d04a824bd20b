"""The durable benchmark's worker: one process, one history store (BENCH_DURABLE_STORE),
publishing to the bench's Pushpin; prints its figures as JSON. Run by bench/durable.py:
``python -m bench.durable_worker EVENTS BATCH ROUNDS MISSED BURST_SECONDS``."""

from __future__ import annotations

import gc
import json
import sys
import time


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main(events: int, batch: int, rounds: int, missed: int, burst_s: float) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    import grip_views
    from bench import resume_worker
    from bench.common import median, percentile
    from bench.publishing import _dg, _fmt
    from grip_views.durable import get_sender
    from grip_views.history import get_history

    call_command("migrate", verbosity=0)
    store = get_history()
    sender = get_sender()
    _, dg_burst = _dg()  # django-grip's non-blocking burst, as benchmark c measures it

    def all_sent(channel: str) -> None:
        # Both durable loops end once the sender thread has sent every event and marked
        # it sent, as django-grip's burst ends with wait_all_sent().
        if not sender.wait_idle(120):
            raise SystemExit(f"the sender did not send {channel} within 120 s: {sender.stats}")

    def one_per_transaction(channel: str) -> None:
        for i in range(events):
            with transaction.atomic():
                grip_views.publish(channel, _fmt(f"#{i}\n"), durable=True)
        all_sent(channel)

    def batched(channel: str) -> None:
        for start in range(0, events, batch):
            with transaction.atomic():
                for i in range(start, min(start + batch, events)):
                    grip_views.publish(channel, _fmt(f"#{i}\n"), durable=True)
        all_sent(channel)

    def dg(channel: str) -> None:
        dg_burst(channel, events)

    # Every stored event of every durable run, sent and accepted: counted after the run.
    checks: list[dict] = []

    def verify(kind: str, channel: str, sent_before: int) -> None:
        replay = store.read(channel, 0)
        ids = [event.id for event in replay.events]
        checks.append(
            {
                "kind": kind,
                "stored": len(ids),
                "in_order": ids == list(range(1, events + 1)),
                "unsent": len(store.unsent(channel, events + 1)),
                "sent_by_sender": sender.stats["sent"] - sent_before,
            }
        )

    # The floor: the same loops with the sender's wake-up turned off (stored and committed,
    # nothing sent), so what the commit itself costs shows beside the rates.
    wake = sender.after_commit

    def unsent(loop):
        def run(channel: str) -> None:
            sender.after_commit = lambda channel, **kwargs: None  # type: ignore[method-assign]
            try:
                loop(channel)
            finally:
                sender.after_commit = wake  # type: ignore[method-assign]

        return run

    variants = {
        "transaction": one_per_transaction,
        "batched": batched,
        "django-grip": dg,
        "floor-transaction": unsent(one_per_transaction),
        "floor-batched": unsent(batched),
    }
    rates: dict[str, list[float]] = {}
    for r in range(rounds + 1):  # round 0 warms up (connections, the sender thread, caches)
        for kind in list(variants) if r % 2 else list(variants)[::-1]:
            channel = f"durable-{kind}-{r}"
            gc.collect()
            before = sender.stats["sent"]
            took = _timed(variants[kind], channel)
            if kind in ("transaction", "batched"):
                verify(kind, channel, before)
            if r:
                rates.setdefault(kind, []).append(events / took)

    # Delivery delay under a sustained burst: each event's time from its publish() call
    # to the answer of the publish request that carried it, over `burst_s` seconds.
    from grip_views.publishing import get_publisher

    publisher = get_publisher()
    accepted: dict[int, float] = {}
    publish_items = publisher.publish_items

    def recording(items, **kwargs):
        publish_items(items, **kwargs)
        now = time.perf_counter()
        for item in items:
            accepted[int(item["id"])] = now

    def burst(channel: str, per: int) -> dict:
        called: dict[int, float] = {}
        accepted.clear()
        publisher.publish_items = recording  # type: ignore[method-assign]
        try:
            n, started = 0, time.perf_counter()
            while time.perf_counter() < started + burst_s:
                with transaction.atomic():
                    for _ in range(per):
                        n += 1
                        called[n] = time.perf_counter()
                        grip_views.publish(channel, _fmt(f"#{n}\n"), durable=True)
            ended = time.perf_counter()
            all_sent(channel)
        finally:
            publisher.publish_items = publish_items  # type: ignore[method-assign]
        delays = [(accepted[i] - at) * 1e3 for i, at in called.items()]
        return {
            "events": n,
            "rate": n / (ended - started),
            "during": sum(accepted[i] <= ended for i in called) / n,
            "median_ms": median(delays),
            "p99_ms": percentile(delays, 99),
        }

    bursts = {f"{per} per transaction": burst(f"burst-{per}", per) for per in (1, batch)}

    # Before the store's own appends (never sent); the floor's are unsent on purpose.
    unsent_channels = [c for c in store.unsent_channels() if "-floor-" not in c]

    # The store alone: appends one by one, then the replay of `missed` events.
    ids = [store.append("store", {"sse": f"data: event {i}\n\n"}) for i in range(2)]
    start = time.perf_counter()
    ids += [store.append("store", {"sse": f"data: event {i}\n\n"}) for i in range(2, missed + 1)]
    append = (time.perf_counter() - start) / (missed - 1)
    reads, replayed = [], 0
    for _ in range(rounds * 5 + 1):
        start = time.perf_counter()
        replayed = len(store.read("store", ids[0]).events)
        reads.append(time.perf_counter() - start)
    return {
        "rates": rates,
        "bursts": bursts,
        "checks": checks,
        "unsent_channels": unsent_channels,
        "failed_tries": sender.stats["failed_tries"],
        "append_s": append,
        "read_s": reads[1:],
        "replayed": replayed,
        "resume": resume_worker.main(missed, rounds, 10),
    }


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:5]), float(sys.argv[5]))))
