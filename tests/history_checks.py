"""What every history store must do, run against each (SQLite in-process; PostgreSQL
and Redis in a process of their own, tests/history_worker.py)."""

from __future__ import annotations

import time
import uuid

from grip_views.history import HistoryBackend
from grip_views.history.database import DatabaseHistory


def check_store(store: HistoryBackend) -> None:
    ch = f"c-{uuid.uuid4().hex[:8]}"
    assert store.last_id(ch) == 0
    assert store.read(ch, 0).events == () and not store.read(ch, 0).reset
    ids = [store.append(ch, {"sse": f"data: {n}\n\n"}) for n in range(1, 6)]
    assert ids == [1, 2, 3, 4, 5], ids
    assert store.last_id(ch) == 5
    replay = store.read(ch, 2)
    assert [e.id for e in replay.events] == [3, 4, 5] and not replay.reset
    assert replay.events[0].formats()["http-stream"]["content"] == "id: 3\ndata: 3\n\n"
    assert [e.id for e in store.read(ch, 0, limit=2).events] == [1, 2]
    assert store.read(ch, 5).events == () and not store.read(ch, 5).reset
    future = store.read(ch, 9)
    assert future.reset and future.last_id == 5 and future.events == ()
    # the outbox: all unsent, in order; sent ones leave it
    assert ch in store.unsent_channels()
    with store.sending(ch):
        assert [e.id for e in store.unsent(ch, 3)] == [1, 2, 3]
        store.mark_sent(ch, [1, 2, 3])
    with store.sending(ch):
        assert [e.id for e in store.unsent(ch, 10)] == [4, 5]
    # trim: unsent events are kept whatever the limits
    assert store.trim(max_events=1) == 3
    assert store.read(ch, 0).reset and store.read(ch, 2).reset
    assert [e.id for e in store.read(ch, 3).events] == [4, 5]
    with store.sending(ch):
        store.mark_sent(ch, [4, 5])
    assert ch not in store.unsent_channels()
    assert store.trim(max_events=1) == 1
    assert [e.id for e in store.read(ch, 4).events] == [5]
    time.sleep(0.05)
    assert store.trim(max_age=0.01) >= 1
    replay = store.read(ch, 4)
    assert replay.reset and replay.last_id == 5
    assert store.append(ch, {"sse": "data: 6\n\n"}) == 6  # ids never go back, even with nothing kept
    # the payload comes back as it went in; bytes of exported formats as their text
    other = f"{ch}-b"
    assert (
        store.append(other, {"formats": {"http-stream": {"content-bin": b"aGk="}}, "meta": {"a": "b"}}) == 1
    )
    with store.sending(other):
        (event,) = store.unsent(other, 10)
    assert event.payload == {"formats": {"http-stream": {"content-bin": "aGk="}}, "meta": {"a": "b"}}
    # ids that are not in a row are marked, and only they
    for n in range(2, 5):
        store.append(other, {"sse": f"data: {n}\n\n"})
    with store.sending(other):
        store.mark_sent(other, [1, 3])
        assert [e.id for e in store.unsent(other, 10)] == [2, 4]
        store.mark_sent(other, [2, 4])
    assert other not in store.unsent_channels()
    # drain: batches in order, each marked sent; a send that fails leaves its batch
    # unsent and the lease free for the next drain
    drained = f"{ch}-d"
    for n in range(1, 6):
        store.append(drained, {"sse": f"data: {n}\n\n"})

    def refused(events):
        raise ConnectionError("the proxy is down")

    try:
        store.drain(drained, 2, refused)
    except ConnectionError:
        pass
    else:
        raise AssertionError("drain swallowed the failure of send")
    batches: list[list[int]] = []
    assert store.drain(drained, 2, lambda events: batches.append([e.id for e in events])) == 5
    assert batches == [[1, 2], [3, 4], [5]]
    assert drained not in store.unsent_channels()
    assert store.drain(drained, 2, refused) == 0  # nothing left: send is not called
    # a failure after some batches were accepted: those are marked sent, the rest are not
    failing = f"{ch}-f"
    for n in range(1, 6):
        store.append(failing, {"sse": f"data: {n}\n\n"})
    accepted: list[int] = []

    def second_refused(events):
        if accepted:
            raise ConnectionError("the proxy went down")
        accepted.extend(e.id for e in events)

    try:
        store.drain(failing, 2, second_refused)
    except ConnectionError:
        pass
    else:
        raise AssertionError("drain swallowed the failure of send")
    assert accepted == [1, 2]
    with store.sending(failing):
        assert [e.id for e in store.unsent(failing, 10)] == [3, 4, 5]
    # an event appended while a batch is on its way goes out after it, in the next
    # drain (which its commit asks for) at the latest
    busy = f"{ch}-busy"
    store.append(busy, {"sse": "data: 1\n\n"})
    sent: list[int] = []

    def send_and_publish(events):
        if not sent:
            store.append(busy, {"sse": "data: 2\n\n"})
        sent.extend(e.id for e in events)

    assert store.drain(busy, 10, send_and_publish) + store.drain(busy, 10, send_and_publish) == 2
    assert sent == [1, 2]
    assert busy not in store.unsent_channels()
    if isinstance(store, DatabaseHistory):
        check_send_lease(store)


def check_send_lease(store: DatabaseHistory) -> None:
    """The database store's send lease: an append gives it to its process's sender
    (``holder``), whose drain then writes nothing before its first send."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from grip_views.models import HistoryChannel

    ch = f"lease-{uuid.uuid4().hex[:8]}"

    def lease() -> tuple[str, float]:
        return HistoryChannel.objects.filter(name=ch).values_list("sender", "sending_until").get()

    store.append(ch, {"sse": "data: 1\n\n"})
    assert lease() == ("", 0.0)  # no holder: no lease
    before = time.time()
    store.append(ch, {"sse": "data: 2\n\n"}, holder="thread-a")
    holder, until = lease()
    assert holder == "thread-a" and until >= before + store.lease_ttl
    store.append(ch, {"sse": "data: 3\n\n"}, holder="thread-b")  # held: b does not take it
    assert lease() == ("thread-a", until)
    with connections[store._db()].cursor() as cursor:  # a longer lease is never shortened
        cursor.execute("UPDATE grip_views_channel SET sending_until = %s WHERE name = %s", [until + 100, ch])
    store.append(ch, {"sse": "data: 4\n\n"}, holder="thread-a")
    assert lease() == ("thread-a", until + 100)

    writes_before_send: list[list[str]] = []
    with CaptureQueriesContext(connections[store._db()]) as queries:

        def send(events):
            writes_before_send.append([q["sql"] for q in queries.captured_queries if "UPDATE" in q["sql"]])

        assert store.drain(ch, 2, send, holder="thread-a") == 4
    assert writes_before_send == [[], []], writes_before_send  # two batches, no write before them
    updates = [q["sql"] for q in queries.captured_queries if "UPDATE" in q["sql"]]
    assert len(updates) == 2, updates  # the marks and the release, once, at the end
    assert lease() == ("", 0.0)
    assert ch not in store.unsent_channels()
    # a drain whose lease another sender took (it lapsed) stops, and leaves it to them
    store.append(ch, {"sse": "data: 5\n\n"}, holder="thread-a")
    store.append(ch, {"sse": "data: 6\n\n"}, holder="thread-a")

    def taken(events):
        with connections[store._db()].cursor() as cursor:
            cursor.execute("UPDATE grip_views_channel SET sender = 'thread-c' WHERE name = %s", [ch])

    # It finds out at its next write (after a short batch, or mark_interval): both were sent.
    assert store.drain(ch, 1, taken, holder="thread-a") == 2
    assert lease()[0] == "thread-c"
