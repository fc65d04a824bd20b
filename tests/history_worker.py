"""One process of the history tests: ``python -m tests.history_worker CMD [ARGS]``.

``migrate``; ``check`` (tests/history_checks.py on the configured store);
``beside-a-writer CHANNEL`` (SQLite: drains while another connection holds the write lock);
``busy-drain CHANNEL`` (SQLite: a holder's drain while the lock is held throughout);
``sender-beside-a-writer CHANNEL`` (SQLite: the sender thread while the lock is held);
``append CHANNEL N`` (N appends, each in its own transaction; prints the ids);
``presence-check``; ``presence-race CHANNEL N TAG GO`` (N connections of one member join,
then leave once the file GO exists).
Configured by the environment (tests/settings_history.py).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings_history")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from grip_views.history import get_history

    cmd = argv[0]
    if cmd == "migrate":
        call_command("migrate", "grip_views", verbosity=0)
    elif cmd == "check":
        from tests.history_checks import check_store

        check_store(get_history())
        print("ok")
    elif cmd == "append":
        channel, count = argv[1], int(argv[2])
        store = get_history()
        ids = []
        for n in range(count):
            with transaction.atomic():
                ids.append(store.append(channel, {"sse": f"data: {os.getpid()}-{n}\n\n"}))
        print(json.dumps(ids))
    elif cmd == "beside-a-writer":
        # Another connection holds SQLite's write lock (as a request's transaction does)
        # and lets go only once a batch was sent: prints what each drain did.
        import sqlite3
        from functools import partial

        from django.db import OperationalError, connection

        store, channel, out = get_history(), argv[1], {}
        for holder in (None, "the-thread"):
            name = f"{channel}-{holder}"
            for n in range(3):
                with transaction.atomic():
                    store.append(name, {"sse": f"data: {n}\n\n"}, holder=holder)
            writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
            writer.execute("BEGIN IMMEDIATE")
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 200")  # a wait for the lock fails fast
            try:
                send = partial(_commit_then_send, writer)
                out[str(holder)] = store.drain(name, 10, send, holder=holder)
            except OperationalError as exc:
                out[str(holder)] = str(exc)
            if writer.in_transaction:
                writer.execute("ROLLBACK")
            writer.close()
        print(json.dumps(out))
    elif cmd == "busy-drain":
        # Another connection holds SQLite's write lock before, during and after the
        # send of the sender thread's drain (holder): what it did, and what the
        # holder's next drains do once the lock is free.
        import sqlite3

        from django.db import connection

        store, channel, out = get_history(), argv[1], {}
        for n in range(3):
            with transaction.atomic():
                store.append(channel, {"sse": f"data: {n}\n\n"}, holder="the-thread")
        sent: list[list[int]] = []

        def send(events):
            sent.append([event.id for event in events])

        writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 200")  # a wait for the lock fails fast
        out["busy"] = store.drain(channel, 10, send, holder="the-thread")
        out["pending_while_busy"] = store.drain_unfinished(channel, "the-thread")
        out["unsent_while_busy"] = [e.id for e in store.unsent(channel, 10)]
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            out["busy_timeout_after"] = cursor.fetchone()[0]
        writer.execute("COMMIT")
        writer.close()
        with transaction.atomic():
            store.append(channel, {"sse": "data: 3\n\n"}, holder="the-thread")
        out["free"] = store.drain(channel, 10, send, holder="the-thread")
        out["pending_after"] = store.drain_unfinished(channel, "the-thread")
        out["unsent_after"] = [e.id for e in store.unsent(channel, 10)]
        out["sent"] = sent
        out["lease_free"] = store.drain(channel, 10, send, holder=None) == 0  # not held: taken at once
        print(json.dumps(out))
    elif cmd == "sender-beside-a-writer":
        # A request takes SQLite's write lock while the sender thread's batch is on its
        # way: the thread is not idle until it wrote the marks, once the lock is free.
        import sqlite3

        from django.db import connection

        from grip_views.durable import get_sender, publish_durable
        from grip_views.publishing import get_publisher

        channel, out = argv[1], {}
        writer = sqlite3.connect(
            connection.settings_dict["NAME"], isolation_level=None, timeout=30, check_same_thread=False
        )
        sent: list[str] = []

        def publish_items(items, **kwargs):
            sent.extend(item["id"] for item in items)
            writer.execute("BEGIN IMMEDIATE")

        get_publisher().publish_items = publish_items
        sender = get_sender()
        with transaction.atomic():
            for n in range(3):
                publish_durable(channel, {"http-stream": {"content": f"{n}\n"}})
        deadline = time.monotonic() + 30
        while not sent and time.monotonic() < deadline:
            time.sleep(0.01)
        out["idle_while_busy"] = sender.wait_idle(0.3)
        out["unsent_while_busy"] = len(get_history().unsent(channel, 10))
        writer.execute("COMMIT")
        out["idle_after"] = sender.wait_idle(30)
        out["unsent_after"] = len(get_history().unsent(channel, 10))
        out["sent"] = sent
        writer.close()
        print(json.dumps(out))
    elif cmd == "presence-check":
        from grip_views.presence import get_presence
        from tests.presence_checks import check_store as check_presence

        check_presence(get_presence())
        print("ok")
    elif cmd == "presence-race":
        # N connections of one member join, then (once the GO file exists) leave:
        # print how many joins and leaves this process was told of.
        from pathlib import Path

        from grip_views.presence import get_presence

        channel, count, tag, go = argv[1], int(argv[2]), argv[3], Path(argv[4])
        store, now, joins, leaves = get_presence(), time.time(), 0, 0
        for n in range(count):
            changes = store.join(channel, "same-user", f"{tag}-{n}", {"id": "same-user"}, now + 300, now)
            joins += sum(c.kind == "join" for c in changes)
        print("joined", flush=True)
        while not go.exists():
            time.sleep(0.01)
        for n in range(count):
            leaves += sum(c.kind == "leave" for c in store.leave(f"{tag}-{n}", time.time()))
        print(json.dumps([joins, leaves]))
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


def _commit_then_send(writer, events) -> None:
    writer.execute("COMMIT")  # the request's transaction ends: the lock is free


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
