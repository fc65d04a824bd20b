"""Snapshot, then changes, through a real Pushpin: the first answer is built at
version V and held from V, and a change made between the two still arrives.

The SSE test runs on test_durable_e2e.py's stack (uvicorn, the history in a
SQLite file), the DRF one on the live server. The races are made inside the
request, as tests/test_snapshot.py does: the racing views change something
after reading their state (or running their query) and before the proxy holds
the answer, while another listener keeps the channel subscribed on the proxy
(issue 17.3: only then does Pushpin not ask again by itself).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from typing import Any

import pytest
import requests
import websocket
from django.contrib.auth.models import User

from grip_views.durable import get_sender
from grip_views.testing.stats import PushpinStats
from tests.drf_app.models import ApiToken, Todo
from tests.e2e import test_durable_e2e
from tests.e2e.support import StreamReader
from tests.e2e.test_durable_e2e import Stack

pytestmark = pytest.mark.pushpin

#: test_durable_e2e.py's module fixture: this module gets a uvicorn stack of its own.
stack = test_durable_e2e.stack


class EventReader(StreamReader):
    """Server-Sent Events (id, event, data) off a held stream."""

    def event(self, timeout: float = 10) -> dict[str, str] | None:
        fields: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.next(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                return None
            if line is None:
                return None
            text = line.decode()
            if text == "":
                if "data" in fields:
                    return fields
                fields = {}  # an id-only event, a comment's end
                continue
            if text.startswith(":"):
                continue
            name, _, value = text.partition(": ")
            fields[name] = value


def _events(reader: EventReader, n: int) -> list[tuple[str, str | None, str]]:
    out = []
    for _ in range(n):
        event = reader.event()
        assert event is not None, f"stream ended or stalled after {out}"
        out.append((event.get("id", ""), event.get("event"), event["data"]))
    return out


def test_sse_gets_the_snapshot_then_every_later_change_once_in_order(stack: Stack) -> None:
    """Served by uvicorn with the history in a SQLite file (see test_durable_e2e.py):
    the proxy's next-link reads run alongside the racing write."""
    channel = f"board-{uuid.uuid4().hex[:12]}"
    post = requests.Session()
    url = f"http://127.0.0.1:{stack.pushpin.http_port}"
    stats = PushpinStats.of(stack.pushpin).start()

    def add(text: str) -> None:
        assert post.post(f"{stack.backend_url}/board/{channel}/", {"data": text}, timeout=10).ok

    add("milk")
    add("eggs")
    # A listener already on the channel, so the proxy knows its last id (issue 17.3).
    other = EventReader(f"{url}/board/{channel}/")
    racer = None
    try:
        assert _events(other, 1) == [("2", "snapshot", '["milk","eggs"]')]
        stats.wait_subscribed((channel,), 10, mode="stream")
        # This view adds "raced" after reading its state, before its hold reaches the proxy.
        racer = EventReader(f"{url}/racing-board/{channel}/")
        assert _events(racer, 1) == [("2", "snapshot", '["milk","eggs"]')]
        stats.wait_subscribed((channel,), 10, subscribers=2, mode="stream")
        for n in range(5):
            add(f"n{n}")
        later = [(str(i + 4), "note", f"n{i}") for i in range(5)]
        # The change made in between arrives once, before the later ones, in id order.
        assert _events(racer, 6) == [("3", "note", "raced"), *later]
        assert _events(other, 6) == [("3", "note", "raced"), *later]
        assert racer.event(timeout=1) is None  # nothing twice
        print(f"\nsnapshot at 2, then 6 changes once each, in order, on {channel}")
    finally:
        stats.close()
        other.close()
        if racer is not None:
            racer.close()


def _token(name: str) -> dict[str, str]:
    account = User.objects.create(username=name)
    ApiToken.objects.create(key=f"token-{name}", user=account)
    return {"Authorization": f"Token token-{name}"}


def test_drf_long_poll_gets_a_change_made_between_its_query_and_its_hold(grip_live) -> None:
    """Issue 17.3, reproduced: another listener on the channel, a change right after
    the view's query. Held from the version its answer was built at, the client gets
    the change at once, not ``[]`` at the timeout (20 s)."""
    ann = _token("ann")
    version = Todo.objects.create(title="milk").version
    # The live server shares this process's SQLite in-memory database, which refuses
    # a write while another thread reads ("table is locked"): let the outbox sender's
    # one-off look for unsent events finish before the racing write.
    get_sender().sweep_once()
    assert get_sender().wait_idle(10)
    listener = websocket.create_connection(
        f"{grip_live.ws_url}/api/ws/durable-todos/", header=ann, timeout=10
    )
    try:
        grip_live.wait_subscribed("durable.todo", mode="ws")
        answers: list[Any] = []
        started = time.monotonic()
        poll = threading.Thread(
            target=lambda: answers.append(
                requests.get(
                    f"{grip_live.url}/api/racing-todos/?after={version}&race=eggs", headers=ann, timeout=30
                )
            )
        )
        poll.start()
        poll.join(30)
        took = time.monotonic() - started
    finally:
        listener.close()
    assert answers and answers[0].status_code == 200
    assert [t["title"] for t in answers[0].json()] == ["eggs"]
    print(f"\nthe change made between the query and the hold arrived after {took:.2f} s (timeout 20 s)")
