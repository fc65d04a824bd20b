"""ZmqPublisher against real loopback ZeroMQ sockets: a PULL or SUB in the test
receives what it sends, as Pushpin's would. Also its settings and system checks.

Each receiving socket lives in a thread of its own that polls it all the time,
as Pushpin's event loop does (an idle SUB socket would not send its
subscriptions before it is next used).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

zmq = pytest.importorskip("zmq")

from django.test import override_settings  # noqa: E402
from gripcontrol import HttpStreamFormat, WebSocketMessageFormat  # noqa: E402

import grip_views  # noqa: E402
from grip_views import checks as grip_checks  # noqa: E402
from grip_views.conf import Proxy, grip_settings  # noqa: E402
from grip_views.exceptions import GripConfigurationError, PublishError, PublishFailure  # noqa: E402
from grip_views.publishing import encode_item, make_item, reset_publisher  # noqa: E402
from grip_views.pushpin import Pushpin  # noqa: E402
from grip_views.zmq import ZmqPublisher  # noqa: E402
from grip_views.zmq import publisher as publisher_module  # noqa: E402
from tests.e2e.support import free_port  # noqa: E402
from tests.test_publishing import FakeProxy  # noqa: E402

WAIT = 10.0  # generous: the machine is shared


class Receiver:
    """A PULL or SUB socket on loopback, owned and polled by its own thread;
    ``messages`` gets each message's frames."""

    def __init__(self, kind: int, *, connect: str | None = None, port: int | None = None) -> None:
        self.kind = kind
        self.messages: queue.Queue[list[bytes]] = queue.Queue()
        self.address = ""
        self._stop = threading.Event()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(connect, port, ready), daemon=True)
        self._thread.start()
        assert ready.wait(WAIT)

    def _run(self, connect: str | None, port: int | None, ready: threading.Event) -> None:
        context = zmq.Context()
        sock = context.socket(self.kind)
        sock.linger = 0
        if self.kind == zmq.SUB:
            sock.subscribe(b"")
        if connect:
            sock.connect(connect)
            self.address = connect
        elif port:
            sock.bind(f"tcp://127.0.0.1:{port}")
            self.address = f"tcp://127.0.0.1:{port}"
        else:
            self.address = f"tcp://127.0.0.1:{sock.bind_to_random_port('tcp://127.0.0.1')}"
        ready.set()
        while not self._stop.is_set():
            if sock.poll(20):
                self.messages.put(sock.recv_multipart())
        sock.close(0)
        context.term()

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    def get(self, timeout: float = WAIT) -> list[bytes]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(WAIT)


@pytest.fixture
def receivers() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(kind: int, **kwargs: Any) -> Receiver:
        made.append(Receiver(kind, **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def zmq_publisher() -> Iterator[Any]:
    made: list[ZmqPublisher] = []

    def make(*proxies: Proxy, **kwargs: Any) -> ZmqPublisher:
        kwargs.setdefault("timeout", 2.0)
        made.append(ZmqPublisher(proxies, **kwargs))
        return made[-1]

    yield make
    for pub in made:
        pub.close(timeout=1.0)


def item(channel: str, text: str = "hi") -> dict[str, Any]:
    return make_item(channel, [HttpStreamFormat(text + "\n"), WebSocketMessageFormat(text)])


def wait_until(condition: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def state(pub: ZmqPublisher, index: int = 0) -> Any:
    """The publisher's socket ``index``, its monitor read (as a publish would)."""
    socket = pub.sockets[index]
    with socket.lock:
        socket.watch()
    return socket


def publish_until_failure(pub: ZmqPublisher, channel: str) -> PublishError:
    """Publish until ZeroMQ has seen the connection drop (milliseconds)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            pub.publish_items([item(channel)])
        except PublishError as exc:
            return exc
        time.sleep(0.02)
    raise AssertionError("no publish failed")


# -- the wire format ---------------------------------------------------------------------------------
def test_push_sends_each_item_as_J_and_the_same_json_as_http(receivers, zmq_publisher):
    pull = receivers(zmq.PULL)
    pub = zmq_publisher(Proxy(zmq_push_uri=pull.address, source="GRIP_PROXIES[0]"))
    items = [item("news", f"n{i}") for i in range(3)]
    pub.publish_items(items)
    assert [pull.get() for _ in items] == [[b"J" + encode_item(i)] for i in items]


def test_pub_sends_the_channel_as_topic_to_each_bound_sub(receivers, zmq_publisher):
    subs = [receivers(zmq.SUB), receivers(zmq.SUB)]
    pub = zmq_publisher(*[Proxy(zmq_pub_uri=s.address, source=f"P{i}") for i, s in enumerate(subs)])
    sent = item("room-1")
    pub.publish_items([sent])
    for sub in subs:
        assert sub.get() == [b"room-1", b"J" + encode_item(sent)]


def test_a_bound_pub_reaches_every_sub_connected_to_it(receivers, zmq_publisher, closed_port):
    address = f"tcp://127.0.0.1:{closed_port}"
    pub = zmq_publisher(Proxy(zmq_pub_bind=address, source="GRIP_PROXIES[0]"), timeout=0.5)
    with pytest.raises(PublishError, match="no Pushpin is connected"):
        pub.publish_items([item("early")])  # binds, waits the timeout for a first peer
    subs = [receivers(zmq.SUB, connect=address) for _ in range(3)]
    wait_until(lambda: state(pub).peers == 3)
    pub.publish_items([item("everyone")])
    assert all(s.get()[0] == b"everyone" for s in subs)


# -- batching ---------------------------------------------------------------------------------------
def test_non_blocking_publishes_are_sent_in_batches_of_batch_size_in_order(receivers, zmq_publisher):
    pull = receivers(zmq.PULL)
    pub = zmq_publisher(Proxy(zmq_push_uri=pull.address, source="P"), batch_size=500)
    pub.publish_items([item("bulk", str(i)) for i in range(1200)], blocking=False)
    assert pub.flush(WAIT)
    got = [pull.get() for _ in range(1200)]
    assert got[0] == [b"J" + encode_item(item("bulk", "0"))] and got[-1][0].endswith(b'"1199"}}}')
    assert pub.stats["sent"] == 1200 and 3 <= pub.stats["batches"] <= 1200
    assert pub.stats["failed"] == 0


def test_http_and_zmq_proxies_get_the_same_publish(receivers, zmq_publisher):
    pull = receivers(zmq.PULL)
    http = FakeProxy()
    try:
        pub = zmq_publisher(Proxy(control_uri=http.url), Proxy(zmq_push_uri=pull.address, source="P"))
        sent = item("both")
        pub.publish_items([sent])
        assert http.items == [[sent]]
        assert pull.get() == [b"J" + encode_item(sent)]
    finally:
        http.stop()


# -- failures ---------------------------------------------------------------------------------------
def test_a_refused_push_raises_naming_the_address_channel_and_pushpin_setting(zmq_publisher, closed_port):
    address = f"tcp://127.0.0.1:{closed_port}"
    pub = zmq_publisher(Proxy(zmq_push_uri=address, source="GRIP_PROXIES[2]"))
    with pytest.raises(PublishError) as info:
        pub.publish_items([item("lost")])
    (failure,) = info.value.failures
    assert failure.proxy == address and failure.channels == ("lost",)
    assert f"push_in_spec={address}" in failure.reason and "GRIP_PROXIES[2]" in failure.reason


def test_a_push_target_that_goes_away_is_reported_then_rejoins(receivers, zmq_publisher):
    pull = receivers(zmq.PULL)
    pub = zmq_publisher(Proxy(zmq_push_uri=pull.address, source="P"))
    pub.publish_items([item("up")])
    assert pull.get()[0].startswith(b"J")
    port = pull.port
    pull.close()
    error = publish_until_failure(pub, "gone")
    assert error.failures[0].proxy == f"tcp://127.0.0.1:{port}"
    again = receivers(zmq.PULL, port=port)
    wait_until(lambda: state(pub).state[again.address] == "up")
    pub.publish_items([item("back")])
    assert b'"back"' in again.get()[0]


def test_a_dead_sub_is_reported_while_the_live_ones_still_get_the_publish(receivers, zmq_publisher):
    live, dead = receivers(zmq.SUB), receivers(zmq.SUB)
    pub = zmq_publisher(Proxy(zmq_pub_uri=live.address, source="A"), Proxy(zmq_pub_uri=dead.address))
    pub.publish_items([item("first")])
    assert live.get()[0] == b"first" and dead.get()[0] == b"first"
    dead.close()
    error = publish_until_failure(pub, "second")
    assert [f.proxy for f in error.failures] == [dead.address]
    assert "push_in_sub_specs" in error.failures[0].reason
    assert live.get()[0] == b"second"  # sent all the same


def test_non_blocking_failures_are_logged_and_handed_to_the_error_handler(zmq_publisher, closed_port, caplog):
    seen: list[PublishFailure] = []
    address = f"tcp://127.0.0.1:{closed_port}"
    pub = zmq_publisher(Proxy(zmq_push_uri=address, source="P"), error_handler=seen.append)
    with caplog.at_level(logging.ERROR, logger="grip_views.publishing"):
        pub.publish_items([item("a"), item("b")], blocking=False)
        assert pub.flush(WAIT)
    assert [(f.proxy, f.channels) for f in seen] == [(address, ("a", "b"))]
    assert address in caplog.text and pub.stats["failed"] == 2


@pytest.mark.parametrize("key", ["zmq_push_uri", "zmq_pub_uri"])
def test_a_receiver_that_stops_reading_makes_publishes_fail_not_vanish(key, zmq_publisher, monkeypatch):
    monkeypatch.setattr(publisher_module, "SNDHWM", 10)
    context = zmq.Context()
    stuck = context.socket(zmq.SUB if key == "zmq_pub_uri" else zmq.PULL)
    stuck.setsockopt(zmq.RCVHWM, 1)
    if key == "zmq_pub_uri":
        stuck.subscribe(b"")
    port = stuck.bind_to_random_port("tcp://127.0.0.1")
    pub = zmq_publisher(Proxy(**{key: f"tcp://127.0.0.1:{port}"}), timeout=0.3)
    big = make_item("flood", HttpStreamFormat("x" * 100_000))
    try:
        with pytest.raises(PublishError, match=r"could not be queued for 0\.3 s"):
            for _ in range(5000):  # kernel buffers and 10 queued messages fill long before
                stuck.getsockopt(zmq.EVENTS)  # the receiver takes its subscriptions, never a message
                pub.publish_items([big])
    finally:
        stuck.close(0)
        context.term()


def test_a_bind_address_in_use_is_reported(receivers, zmq_publisher):
    taken = receivers(zmq.PULL)
    pub = zmq_publisher(Proxy(zmq_pub_bind=taken.address, source="GRIP_PROXIES[0]"))
    with pytest.raises(PublishError, match="could not bind"):
        pub.publish_items([item("x")])


def test_close_then_publish_opens_the_sockets_again(receivers, zmq_publisher):
    pull = receivers(zmq.PULL)
    pub = zmq_publisher(Proxy(zmq_push_uri=pull.address, source="P"))
    pub.publish_items([item("one")])
    pub.close()
    pub.publish_items([item("two")])
    assert [b'"one"' in pull.get()[0], b'"two"' in pull.get()[0]] == [True, True]


# -- settings and checks ------------------------------------------------------------------------------
@pytest.mark.grip_real_publisher
def test_publish_goes_through_the_zmq_backend_set_in_the_settings(receivers):
    pull = receivers(zmq.PULL)
    with override_settings(
        GRIP_PUBLISH_BACKEND="grip_views.zmq.ZmqPublisher",
        GRIP_PROXIES=[{"control_zmq_push_uri": pull.address}],
    ):
        try:
            grip_views.publish("settings", HttpStreamFormat("x\n"))
            assert b'"settings"' in pull.get()[0]
        finally:
            reset_publisher()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"control_uri": "http://127.0.0.1:5561", "control_zmq_push_uri": "tcp://127.0.0.1:1"}, "give one"),
        ({"control_zmq_pub_uri": "tcp://127.0.0.1:5562", "control_zmq_pub_bind": "tcp://*:5563"}, "give one"),
        ({"control_zmq_push_uri": 5560}, "must be a string"),
    ],
)
def test_bad_zmq_entries_are_refused_by_the_settings(entry, message):
    with override_settings(GRIP_PROXIES=[entry]), pytest.raises(GripConfigurationError, match=message):
        grip_settings.proxies  # noqa: B018


def run_zmq_checks(**settings: Any) -> list[tuple[str, str]]:
    with override_settings(**settings):
        return [(m.id or "", m.msg) for m in grip_checks.check_zmq()]


@pytest.mark.parametrize(
    "address", ["127.0.0.1:5560", "tcp://127.0.0.1", "tcp://*:5560", "http://127.0.0.1:5560", "tcp://h:99999"]
)
def test_a_bad_zmq_address_is_a_system_check_error_naming_the_setting(address):
    found = run_zmq_checks(
        GRIP_PUBLISH_BACKEND="grip_views.zmq.ZmqPublisher", GRIP_PROXIES=[{"control_zmq_push_uri": address}]
    )
    assert len(found) == 1 and found[0][0] == "grip_views.E014"
    assert "GRIP_PROXIES[0]['control_zmq_push_uri']" in found[0][1] and repr(address) in found[0][1]
    with pytest.raises(GripConfigurationError):
        ZmqPublisher([Proxy(zmq_push_uri=address)])


def test_two_binds_are_a_system_check_error():
    found = run_zmq_checks(
        GRIP_PUBLISH_BACKEND="grip_views.zmq.ZmqPublisher",
        GRIP_PROXIES=[{"control_zmq_pub_bind": "tcp://*:5563"}, {"control_zmq_pub_bind": "tcp://*:5564"}],
    )
    assert [i for i, _ in found] == ["grip_views.E014"] and "keep one entry" in found[0][1]


def test_zmq_proxies_with_the_http_publisher_are_a_system_check_error():
    found = run_zmq_checks(
        GRIP_PUBLISH_BACKEND="grip_views.publishing.HttpPublisher",
        GRIP_PROXIES=[{"control_zmq_push_uri": "tcp://127.0.0.1:5560"}],
    )
    assert [i for i, _ in found] == ["grip_views.E015"] and "GRIP_PROXIES[0]" in found[0][1]
    with override_settings(
        GRIP_PUBLISH_BACKEND="grip_views.publishing.HttpPublisher",
        GRIP_PROXIES=[{"control_zmq_push_uri": "tcp://127.0.0.1:5560"}],
    ):
        (message,) = grip_checks.check_zmq()
    assert "GRIP_PUBLISH_BACKEND = 'grip_views.zmq.ZmqPublisher'" in message.hint
    # the in-memory publisher of tests is left alone; a good setup passes
    assert (
        run_zmq_checks(
            GRIP_PUBLISH_BACKEND="grip_views.testing.InMemoryPublisher",
            GRIP_PROXIES=[{"control_zmq_push_uri": "tcp://127.0.0.1:5560"}],
        )
        == []
    )
    assert (
        run_zmq_checks(
            GRIP_PUBLISH_BACKEND="grip_views.zmq.ZmqPublisher",
            GRIP_PROXIES=[{"control_zmq_pub_bind": "tcp://*:5563"}, {"control_uri": "http://127.0.0.1:5561"}],
        )
        == []
    )


def test_zmq_proxies_without_pyzmq_are_a_system_check_error(monkeypatch):
    monkeypatch.setattr(grip_checks.importlib.util, "find_spec", lambda name: None)
    with override_settings(GRIP_PROXIES=[{"control_zmq_push_uri": "tcp://127.0.0.1:5560"}]):
        (message,) = grip_checks.check_zmq()
    assert message.id == "grip_views.E013" and "grip-views[zmq]" in message.hint
    assert "GRIP_PROXIES[0]['control_zmq_push_uri']" in message.msg


# -- the harness options -------------------------------------------------------------------------------
def test_pushpin_zmq_options_are_checked():
    with pytest.raises(ValueError, match="push_in_sub_specs"):
        Pushpin(push_in_sub_connect=True)
    with pytest.raises(ValueError, match="one tcp:// or ipc://"):
        Pushpin(push_in_spec="tcp://a:1,tcp://b:2")
    pushpin = Pushpin(push_in_sub_specs="tcp://127.0.0.1:5563", push_in_sub_connect=True)
    assert pushpin.push_in_sub_uris == ["tcp://127.0.0.1:5563"] and pushpin.push_in_uri is None
