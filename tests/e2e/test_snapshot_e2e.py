"""Snapshot, then changes, through a real Pushpin: the first answer is built at
version V and held from V, and a change made between the two still arrives.

Served by test_durable_e2e.py's stack (uvicorn, the history in a SQLite file,
tests/drf_app's API under /api/). The races are made inside the
request, as tests/test_snapshot.py does: the racing views change something
after reading their state (or running their query) and before the proxy holds
the answer, while another listener keeps the channel subscribed on the proxy
(issue 17.3: only then does Pushpin not ask again by itself).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from typing import Any

import pytest
import requests
import websocket

from grip_views.testing.stats import PushpinStats
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


def test_websocket_and_long_poll_get_the_snapshot_then_the_next_change(stack: Stack) -> None:
    channel = f"board-{uuid.uuid4().hex[:12]}"
    post = requests.Session()
    url = f"http://127.0.0.1:{stack.pushpin.http_port}"
    assert post.post(f"{stack.backend_url}/board/{channel}/", {"data": "milk"}, timeout=10).ok
    ws_url = f"{stack.pushpin.ws_url}/board-ws/{channel}/"
    stats = PushpinStats.of(stack.pushpin).start()
    ws = websocket.create_connection(ws_url, timeout=10)
    try:
        assert json.loads(ws.recv()) == {"id": "1", "event": "snapshot", "data": ["milk"]}
        assert json.loads(ws.recv()) == {"id": "1", "event": "caught-up", "missed": 0}
        first = requests.get(f"{url}/board-poll/{channel}/", timeout=10)
        assert first.json() == {"last_id": "1", "snapshot": ["milk"]}
        answers: list[Any] = []
        poll = threading.Thread(
            target=lambda: answers.append(requests.get(f"{url}/board-poll/{channel}/?after=1", timeout=30))
        )
        poll.start()
        stats.wait_subscribed((channel,), 10, mode="response")
        assert post.post(f"{stack.backend_url}/board/{channel}/", {"data": "eggs"}, timeout=10).ok
        poll.join(30)
        assert json.loads(ws.recv()) == {"id": "2", "data": "eggs"}
        assert answers and answers[0].json() == {"note": "eggs"}
        assert answers[0].headers["Event-Id"] == "2"
    finally:
        stats.close()
        ws.close()


def _token(stack: Stack, name: str) -> dict[str, str]:
    answer = requests.post(f"{stack.backend_url}/api-token/{name}/", timeout=10)
    answer.raise_for_status()
    return {"Authorization": answer.text}


def test_drf_event_stream_gets_the_list_at_v_then_each_change_once_in_order(stack: Stack) -> None:
    """The proxy repairs the stream through the view's signed next link, which it
    fetches without the client's credentials."""
    ann = _token(stack, f"ann-{uuid.uuid4().hex[:8]}")
    url = f"http://127.0.0.1:{stack.pushpin.http_port}"
    api = requests.Session()
    created = api.post(f"{url}/api/durable-todos/", json={"title": "milk"}, headers=ann, timeout=10)
    assert created.status_code == 201
    todo = created.json()
    stats = PushpinStats.of(stack.pushpin).start()  # before the subscription it waits for
    reader = EventReader(f"{url}/api/durable-todos/{todo['id']}/", {"Accept": "text/event-stream", **ann})
    try:
        first = reader.event()
        assert first is not None and first["id"] == "1" and json.loads(first["data"])["title"] == "milk"
        stats.wait_subscribed((f"durable.todo.{todo['id']}@event-stream",), 10, mode="stream")
        for n in range(3):
            patched = api.patch(
                f"{url}/api/durable-todos/{todo['id']}/", json={"title": f"v{n}"}, headers=ann, timeout=10
            )
            assert patched.status_code == 200
        got = [reader.event() for _ in range(3)]
        assert [(e["id"], e["event"], json.loads(e["data"])["title"]) for e in got if e] == [
            ("2", "updated", "v0"),
            ("3", "updated", "v1"),
            ("4", "updated", "v2"),
        ]
        assert reader.event(timeout=1) is None  # nothing twice
    finally:
        stats.close()
        reader.close()


def test_drf_long_poll_gets_a_change_made_between_its_query_and_its_hold(stack: Stack) -> None:
    """Issue 17.3, reproduced: another listener on the channel, a change right after
    the view's query. Held from the version its answer was built at, the client gets
    the change at once, not ``[]`` at the timeout (20 s)."""
    ann = _token(stack, f"bob-{uuid.uuid4().hex[:8]}")
    url = f"http://127.0.0.1:{stack.pushpin.http_port}"
    created = requests.post(f"{url}/api/durable-todos/", json={"title": "milk"}, headers=ann, timeout=10)
    assert created.status_code == 201
    version = created.json()["version"]
    stats = PushpinStats.of(stack.pushpin).start()
    listener = websocket.create_connection(
        f"{stack.pushpin.ws_url}/api/ws/durable-todos/", header=ann, timeout=10
    )
    title = f"eggs-{uuid.uuid4().hex[:8]}"
    try:
        stats.wait_subscribed(("durable.todo",), 10, mode="ws")
        started = time.monotonic()
        answer = requests.get(
            f"{url}/api/racing-todos/?after={version}&race={title}", headers=ann, timeout=30
        )
        took = time.monotonic() - started
    finally:
        stats.close()
        listener.close()
    assert answer.status_code == 200
    assert [t["title"] for t in answer.json()] == [title]
    print(f"\nthe change made between the query and the hold arrived after {took:.2f} s (timeout 20 s)")
