"""The DRF API of tests/drf_app through a real Pushpin: one client holds an
endpoint, another changes the object through the API, the first receives the
new representation; clients that fail authentication are refused."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
import websocket
from django.contrib.auth.models import User

from tests.drf_app.models import ApiToken, Todo


def token_headers(name: str) -> dict[str, str]:
    account = User.objects.create(username=name)
    ApiToken.objects.create(key=f"token-{name}", user=account)
    return {"Authorization": f"Token token-{name}"}


@dataclass
class Event:
    event: str | None
    data: str


class EventReader:
    """Reads Server-Sent Events from a held response in a thread."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        self.conn.request("GET", parts.path, headers={"Accept": "text/event-stream", **headers})
        self.response = self.conn.getresponse()
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name: str | None = None
        data: list[str] = []
        try:
            while line := self.response.readline():
                text = line.decode().rstrip("\r\n")
                if text.startswith("event: "):
                    name = text[len("event: ") :]
                elif text.startswith("data: "):
                    data.append(text[len("data: ") :])
                elif not text and data:
                    self.events.put(Event(name, "\n".join(data)))
                    name, data = None, []
        except (OSError, ValueError, http.client.HTTPException):
            pass  # closed by the test
        self.events.put(None)

    def next(self, timeout: float = 10) -> Event | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        if self.conn.sock is not None:
            with contextlib.suppress(OSError):
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.conn.close()


@pytest.fixture
def readers() -> Iterator[list[EventReader]]:
    opened: list[EventReader] = []
    yield opened
    for reader in opened:
        reader.close()


def test_event_stream_client_receives_the_change_another_client_made(grip_live, readers) -> None:
    ann, bob = token_headers("ann"), token_headers("bob")
    todo = Todo.objects.create(title="before")
    reader = EventReader(f"{grip_live.url}/api/todos/", ann)
    readers.append(reader)
    assert reader.response.status == 200

    first = reader.next()
    assert first is not None and [t["title"] for t in json.loads(first.data)] == ["before"]

    # A publish racing the proxy's subscription can be missed: change again until one arrives.
    sent = []
    received = None
    for attempt in range(5):
        patched = requests.patch(
            f"{grip_live.url}/api/todos/{todo.pk}/",
            json={"title": f"after {attempt}"},
            headers=bob,
            timeout=10,
        )
        assert patched.status_code == 200
        sent.append(patched.json())
        received = reader.next(timeout=3)
        if received is not None:
            break

    assert received is not None and received.event == "updated"
    assert json.loads(received.data) in sent


def test_long_poll_client_is_answered_with_the_new_representation(grip_live) -> None:
    ann, bob = token_headers("ann"), token_headers("bob")
    todo = Todo.objects.create(title="before")
    answers: list[requests.Response] = []
    poller = threading.Thread(
        target=lambda: answers.append(
            requests.get(
                f"{grip_live.url}/api/todos/{todo.pk}/?after={todo.version}", headers=ann, timeout=30
            )
        )
    )
    poller.start()
    grip_live.wait_subscribed(f"drf_app.todo.{todo.pk}", mode="response")
    assert poller.is_alive(), "nothing was newer: the long-poll should be held"

    patched = requests.patch(
        f"{grip_live.url}/api/todos/{todo.pk}/", json={"done": True}, headers=bob, timeout=10
    )
    poller.join(25)

    assert patched.status_code == 200
    assert answers and answers[0].status_code == 200
    assert answers[0].json() == patched.json()
    assert answers[0].json()["done"] is True


def test_unauthenticated_stream_and_long_poll_are_refused_not_held(grip_live) -> None:
    Todo.objects.create(title="secret")

    stream = requests.get(f"{grip_live.url}/api/todos/", headers={"Accept": "text/event-stream"}, timeout=10)
    poll = requests.get(f"{grip_live.url}/api/todos/?after=0", timeout=10)
    forged = requests.get(
        f"{grip_live.url}/api/todos/", headers={"Authorization": "Token forged"}, timeout=10
    )

    assert stream.status_code == 401
    assert poll.status_code == 401
    assert poll.json() == {"detail": "Authentication credentials were not provided."}
    assert forged.status_code == 401
    assert "secret" not in stream.text + poll.text + forged.text


def test_websocket_is_refused_without_credentials_and_serves_the_authenticated(grip_live) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"{grip_live.ws_url}/api/ws/todos/", timeout=10)
    assert refused.value.status_code in (401, 403)

    ann = token_headers("ann")
    ws = websocket.create_connection(
        f"{grip_live.ws_url}/api/ws/todos/", header=[f"Authorization: {ann['Authorization']}"], timeout=10
    )
    try:
        ws.send('{"hi": 1}')
        assert json.loads(ws.recv()) == {"you": "ann", "events": 1, "echo": {"hi": 1}}
    finally:
        ws.close()
