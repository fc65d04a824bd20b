"""Three Pushpin instances in front of one app: every publish reaches the
clients of all three, over HTTP to each, over a PUSH socket to each, and over
one PUB socket all three connect to; one instance killed by PID is reported
(HTTP) while the others keep delivering, and it rejoins once restarted."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from gripcontrol import HttpStreamFormat, WebSocketMessageFormat

pytest.importorskip("zmq")

import grip_views
from grip_views.exceptions import PublishError, PublishFailure
from grip_views.publishing import get_publisher, reset_publisher
from grip_views.pushpin import Pushpin
from grip_views.testing import PushpinStats
from grip_views.testing.pytest_plugin import SIG_ISS, SIG_KEY, _backend_of, require_pushpin
from grip_views.zmq import ZmqPublisher
from tests.e2e.support import StreamReader, free_port

pytestmark = [pytest.mark.pushpin, pytest.mark.grip_real_publisher]
WAIT = 15.0


class Instance:
    """One Pushpin with its stats reader and its clients: a stream and a WebSocket."""

    def __init__(self, pushpin: Pushpin) -> None:
        self.pushpin = pushpin
        self.stats: PushpinStats | None = None
        self.stream: StreamReader | None = None
        self.socket: websocket.WebSocket | None = None

    def start(self) -> None:
        if self.stats is not None:
            self.stats.close()
        self.pushpin.restart() if self.pushpin.pid is not None else self.pushpin.start()
        self.stats = PushpinStats.of(self.pushpin).start()

    def open_clients(self, channel: str) -> None:
        self.close_clients()
        self.stream = StreamReader(f"{self.pushpin.url}/e2e/stream/{channel}/")
        assert self.stream.status == 200 and self.stream.next() == b"[open]"
        self.socket = websocket.create_connection(f"{self.pushpin.ws_url}/e2e/ws/{channel}/", timeout=WAIT)
        self.socket.send("sync")
        assert self.socket.recv() == "sync"
        assert self.stats is not None
        self.stats.wait_subscribed(channel, WAIT, mode="stream")
        self.stats.wait_subscribed(channel, WAIT, mode="ws")

    def received(self) -> tuple[bytes | None, str]:
        assert self.stream is not None and self.socket is not None
        return self.stream.next(WAIT), self.socket.recv()

    def close_clients(self) -> None:
        if self.stream is not None:
            self.stream.close()
        if self.socket is not None:
            self.socket.close()
        self.stream = self.socket = None

    def stop(self) -> None:
        self.close_clients()
        if self.stats is not None:
            self.stats.close()
        self.pushpin.stop()


@pytest.fixture(scope="module")
def pub_bind() -> str:
    """Where the app's PUB socket binds; every instance's SUB connects to it."""
    return f"tcp://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def instances(live_server: Any, pub_bind: str) -> Iterator[list[Instance]]:
    executable = require_pushpin()
    made = [
        Instance(
            Pushpin(
                _backend_of(live_server.url),
                sig_key=SIG_KEY,
                sig_iss=SIG_ISS,
                executable=executable,
                push_in_spec=True,
                push_in_sub_specs=pub_bind,
                push_in_sub_connect=True,
            )
        )
        for _ in range(3)
    ]
    starters = [threading.Thread(target=i.start) for i in made]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    try:
        assert all(i.pushpin.running for i in made)
        yield made
    finally:
        for i in made:
            i.stop()


def proxies(instances: list[Instance], transport: str, pub_bind: str) -> list[dict[str, Any]]:
    """GRIP_PROXIES: the shared signing key, and how each instance is published to."""
    verify = {"key": SIG_KEY, "verify_iss": SIG_ISS}
    if transport == "http":
        return [i.pushpin.grip_proxy for i in instances]
    if transport == "push":
        return [verify] + [{"control_zmq_push_uri": i.pushpin.push_in_uri} for i in instances]
    return [verify, {"control_zmq_pub_bind": pub_bind}]


@pytest.fixture
def app(settings: Any, instances: list[Instance], pub_bind: str, request: Any) -> Iterator[Any]:
    """Django set up to publish to the three instances in one way (``set(transport)``)."""
    settings.GRIP_URL = None
    settings.GRIP_PUBLISH_BACKEND = "grip_views.zmq.ZmqPublisher"
    failures: list[PublishFailure] = []
    settings.GRIP_PUBLISH_ERROR_HANDLER = failures.append

    def use(transport: str) -> list[PublishFailure]:
        settings.GRIP_PROXIES = proxies(instances, transport, pub_bind)
        if transport == "pub":
            wait_for_peers(len(instances))
        return failures

    yield use
    reset_publisher()
    for i in instances:
        i.close_clients()


def wait_for_peers(count: int) -> None:
    """Until ``count`` instances are connected to the app's PUB socket."""
    publisher = get_publisher()
    assert isinstance(publisher, ZmqPublisher)
    (pub,) = publisher.sockets
    publisher.open()
    deadline = time.monotonic() + WAIT
    while True:
        with pub.lock:
            pub.watch()
            if pub.peers == count:
                return
        assert time.monotonic() < deadline, f"{pub.peers} of {count} Pushpins connected to the PUB socket"
        time.sleep(0.05)


def publish(channel: str, text: str, **options: Any) -> None:
    grip_views.publish(channel, [HttpStreamFormat(text + "\n"), WebSocketMessageFormat(text)], **options)


@pytest.mark.parametrize("transport", ["http", "push", "pub"])
def test_one_publish_reaches_stream_and_websocket_clients_on_three_pushpins(app, instances, transport):
    app(transport)
    channel = f"three-{transport}-{os.urandom(4).hex()}"
    for i in instances:
        i.open_clients(channel)
    publish(channel, f"to all over {transport}")
    assert [i.received() for i in instances] == [
        (f"to all over {transport}".encode(), f"to all over {transport}")
    ] * 3


@pytest.mark.parametrize("transport", ["http", "pub"])
def test_a_killed_pushpin_is_reported_the_others_deliver_and_it_rejoins(app, instances, transport):
    failures = app(transport)
    channel = f"kill-{transport}-{os.urandom(4).hex()}"
    for i in instances:
        i.open_clients(channel)
    victim, *others = instances
    victim.close_clients()
    os.kill(victim.pushpin.pid, signal.SIGTERM)  # type: ignore[arg-type]
    deadline = time.monotonic() + WAIT
    while victim.pushpin.running:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    if transport == "http":
        with pytest.raises(PublishError) as info:
            publish(channel, "while one is down")
        assert [f.proxy for f in info.value.failures] == [victim.pushpin.publish_url]
        assert info.value.failures[0].channels == (channel,)
        publish(channel, "again, not blocking", blocking=False)
        assert get_publisher().flush(WAIT)
        assert [(f.proxy, f.channels) for f in failures] == [(victim.pushpin.publish_url, (channel,))]
    else:
        # A PUB socket sees the connection go; with others still connected it is no failure.
        wait_for_peers(2)
        publish(channel, "while one is down")
        publish(channel, "again, not blocking", blocking=False)
        assert get_publisher().flush(WAIT) and failures == []
    for i in others:
        assert i.received() == (b"while one is down", "while one is down")
        assert i.received() == (b"again, not blocking", "again, not blocking")

    victim.start()  # the same ports: clients reconnect to the same URLs
    if transport == "pub":
        wait_for_peers(3)
    victim.open_clients(channel)
    publish(channel, "rejoined")
    assert [i.received() for i in instances] == [(b"rejoined", "rejoined")] * 3
    assert len(failures) == (1 if transport == "http" else 0)
