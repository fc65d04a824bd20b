"""``ZmqPublisher``: PUSH and PUB sockets to Pushpin, plus HTTP for the other proxies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from ..conf import Proxy, grip_settings
from ..exceptions import PublishFailure
from ..publishing import HttpPublisher
from .conf import ZmqEndpoint, zmq_endpoints

__all__ = ["ZmqPublisher"]

#: Messages a socket queues per connection, as Pushpin's own sockets do (101,000).
SNDHWM = 100_000
# A connection counts as up once ZeroMQ's handshake is done (then a PUSH can
# send, and a SUB has sent its subscriptions), and as down when it closes or
# an attempt fails; ZeroMQ keeps reconnecting every 100 ms meanwhile.
_UP = zmq.EVENT_HANDSHAKE_SUCCEEDED
_DOWN = (
    zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CLOSED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
_WATCHED = _UP | _DOWN | zmq.EVENT_ACCEPTED
#: A SUB sends its subscriptions just after the handshake: a PUB message sent
#: within this many seconds of a connection coming up waits until then, or the
#: PUB would drop it, not knowing yet that the instance wants it.
SUBSCRIPTIONS_SETTLE = 0.05
_JSON = b"J"  # Pushpin reads "J" + JSON; a bare message is a tnetstring


class _Socket:
    """One ZeroMQ socket (made on first use, under ``lock``) and what its
    monitor says about its connections: each address it connects to is
    "connecting", "up" or "down"; ``peers`` counts who is connected to its bind."""

    def __init__(self, kind: int, connects: Sequence[ZmqEndpoint], bind: ZmqEndpoint | None, timeout: float):
        self.kind = kind
        self.connects = list(connects)
        self.bind = bind
        self.timeout = timeout
        self.lock = threading.Lock()
        self.sock: zmq.Socket[bytes] | None = None
        self.monitor: zmq.Socket[bytes] | None = None
        self.state: dict[str, str] = {}
        self.peers = 0
        self.opened_at = 0.0
        self.last_up = 0.0

    def __repr__(self) -> str:
        kind = "PUSH" if self.kind == zmq.PUSH else "PUB"
        where = [e.address for e in self.connects] + ([f"bind {self.bind.address}"] if self.bind else [])
        return f"<{kind} {', '.join(where)}>"

    # -- state -----------------------------------------------------------------
    def open(self, context: zmq.Context[Any]) -> None:
        if self.sock is not None:
            return
        sock = context.socket(self.kind)
        sock.setsockopt(zmq.LINGER, int(self.timeout * 1000))
        sock.setsockopt(zmq.SNDHWM, SNDHWM)
        # A peer gone without closing TCP is noticed after ~60 s, as Pushpin's SUB does.
        sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
        sock.setsockopt(zmq.TCP_KEEPALIVE_IDLE, 30)
        sock.setsockopt(zmq.TCP_KEEPALIVE_INTVL, 5)
        sock.setsockopt(zmq.TCP_KEEPALIVE_CNT, 6)
        # Queue only to connections that are up: what is reported as not sent to
        # a proxy that is down is not delivered to it later either.
        sock.setsockopt(zmq.IMMEDIATE, 1)
        if self.kind == zmq.PUB:
            sock.setsockopt(zmq.XPUB_NODROP, 1)  # a full queue is an error, not a silent drop
        monitor = sock.get_monitor_socket(_WATCHED)
        try:
            if self.bind is not None:
                sock.bind(self.bind.address)
        except zmq.ZMQError:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
            raise
        for endpoint in self.connects:
            sock.connect(endpoint.address)
            self.state[endpoint.address] = "connecting"
        self.sock, self.monitor, self.peers = sock, monitor, 0
        self.opened_at = time.monotonic()

    def close(self) -> None:
        if self.sock is not None:
            assert self.monitor is not None
            self.sock.disable_monitor()
            self.monitor.close(0)
            self.sock.close()  # lingers up to the timeout for what is queued
            self.sock = self.monitor = None
            self.state = {}

    def watch(self) -> None:
        """Read the monitor's events: every connection's state, until it is
        known (or ``timeout`` after the socket was made)."""
        assert self.monitor is not None
        while True:
            while self.monitor.poll(0):
                self._on_event(recv_monitor_message(self.monitor))
            left = self.opened_at + self.timeout - time.monotonic()
            waiting = "connecting" in self.state.values() or (self.bind is not None and not self.peers)
            if not waiting or left <= 0:
                return
            self.monitor.poll(max(1, int(left * 1000)))

    def _on_event(self, event: Mapping[str, Any]) -> None:
        kind, address = event["event"], event["endpoint"].decode("utf-8", "replace")
        if address in self.state:
            if kind & _UP:
                self.state[address] = "up"
                self.last_up = time.monotonic()
            elif kind & _DOWN:
                self.state[address] = "down"
        elif kind & zmq.EVENT_ACCEPTED:
            self.peers += 1
            self.last_up = time.monotonic()
        elif kind & zmq.EVENT_DISCONNECTED:  # an accepted connection ended
            self.peers = max(0, self.peers - 1)

    def down(self, channels: Sequence[str]) -> list[PublishFailure]:
        """A failure for each connection that is not up (and the bind, if nobody is connected)."""
        failures = []
        for endpoint in self.connects:
            state = self.state.get(endpoint.address)
            if state != "up":
                why = "not connected yet" if state == "connecting" else "not connected"
                failures.append(
                    PublishFailure(
                        endpoint.address,
                        channels,
                        f"{why} (refused, or closed by the proxy): is Pushpin running with "
                        f"{endpoint.pushpin_setting}={endpoint.address}? ({endpoint.source})",
                    )
                )
        if self.bind is not None and not self.peers:
            failures.append(
                PublishFailure(
                    self.bind.address,
                    channels,
                    "no Pushpin is connected to this PUB socket: set push_in_sub_specs to this "
                    f"address and push_in_sub_connect=true in pushpin.conf ({self.bind.source})",
                )
            )
        return failures

    # -- sending ---------------------------------------------------------------
    def publish(self, batch: Sequence[tuple[str, bytes]], context: zmq.Context[Any]) -> list[PublishFailure]:
        """Send ``batch`` to every connection that is up; a failure for each that is not."""
        channels = [c for c, _ in batch]
        with self.lock:
            try:
                self.open(context)
            except zmq.ZMQError as exc:
                bind = self.bind
                assert bind is not None  # only a bind fails at once
                return [PublishFailure(bind.address, channels, f"could not bind: {exc} ({bind.source})")]
            self.watch()
            down = self.down(channels)
            if len(down) == len(self.connects) + (self.bind is not None):
                return down  # nobody would get it
            settle = self.last_up + SUBSCRIPTIONS_SETTLE - time.monotonic()
            if self.kind == zmq.PUB and settle > 0:
                time.sleep(settle)
            return down + self.send(batch)

    def send(self, batch: Sequence[tuple[str, bytes]]) -> list[PublishFailure]:
        """Queue each item as one message; a failure names what was not queued."""
        assert self.sock is not None
        deadline = time.monotonic() + self.timeout
        for i, (channel, data) in enumerate(batch):
            frames = [_JSON + data] if self.kind == zmq.PUSH else [channel.encode(), _JSON + data]
            if not self._send_one(frames, deadline):
                where = self.connects[0].address if self.kind == zmq.PUSH else repr(self)
                reason = (
                    f"the message could not be queued for {self.timeout} s: the connection "
                    "dropped, or the proxy reads too slowly"
                )
                return [PublishFailure(where, [c for c, _ in batch[i:]], reason)]
        return []

    def _send_one(self, frames: list[bytes], deadline: float) -> bool:
        assert self.sock is not None
        while True:
            try:
                self.sock.send_multipart(frames, zmq.NOBLOCK)
                return True
            except zmq.Again:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if self.kind == zmq.PUSH:
                    self.sock.poll(max(1, int(left * 1000)), zmq.POLLOUT)
                else:  # a PUB socket always polls writable: wait a little
                    time.sleep(min(0.001, left))


class ZmqPublisher(HttpPublisher):
    """Publishes over ZeroMQ to the proxies with a ``control_zmq_*`` address
    (a PUSH socket each, one PUB socket for all the others), and over HTTP to
    those with a ``control_uri``. See :mod:`grip_views.zmq` for what a failure is."""

    def __init__(self, servers: Iterable[Proxy] | None = None, **options: Any) -> None:
        """``servers`` are proxies as in ``GRIP_PROXIES`` (default: those of the
        settings, plus ``PUBLISH_SERVERS``); the keyword arguments are
        :class:`~grip_views.publishing.HttpPublisher`'s (``timeout``,
        ``queue_size``, ``batch_size``, ``error_handler``)."""
        if servers is None:
            http, proxies = grip_settings.publish_servers, grip_settings.proxies
        else:
            http = proxies = tuple(servers)
        super().__init__([p for p in http if p.control_uri], **options)
        endpoints = zmq_endpoints(proxies)
        self.sockets = [_Socket(zmq.PUSH, [e], None, self.timeout) for e in endpoints if e.kind == "push"]
        pub = [e for e in endpoints if e.kind == "pub"]
        bind = next((e for e in endpoints if e.kind == "bind"), None)
        if pub or bind:
            self.sockets.append(_Socket(zmq.PUB, pub, bind, self.timeout))
        self._context: zmq.Context[Any] | None = None
        self._context_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ZmqPublisher {[repr(s) for s in self.sockets] + [s.uri for s in self.servers]}>"

    def send_batch(self, batch: Sequence[tuple[str, bytes]]) -> list[PublishFailure]:
        # With neither HTTP nor ZeroMQ proxies, HttpPublisher reports "no proxy".
        failures = super().send_batch(batch) if self.servers or not self.sockets else []
        for socket in self.sockets:
            failures.extend(socket.publish(batch, self._get_context()))
        return failures

    def open(self) -> None:
        """Open the sockets and wait (up to ``GRIP_PUBLISH_TIMEOUT``) for their
        connections, as the first publish would: call it at startup so that
        first publish does not wait. Errors are left for a publish to report."""
        for socket in self.sockets:
            with socket.lock:
                try:
                    socket.open(self._get_context())
                except zmq.ZMQError:
                    continue
                socket.watch()

    def _get_context(self) -> zmq.Context[Any]:
        with self._context_lock:
            if self._context is None:
                self._context = zmq.Context()
            return self._context

    def close(self, timeout: float | None = None) -> None:
        """Flush the queue, then close the sockets (each lingers up to
        ``GRIP_PUBLISH_TIMEOUT`` for messages still queued); the next publish
        opens them again."""
        super().close(timeout)
        for socket in self.sockets:
            with socket.lock:
                socket.close()
        with self._context_lock:
            if self._context is not None:
                self._context.term()
                self._context = None
