"""What a running Pushpin says about its subscriptions: wait until a client is held.

pushpin-handler publishes a ``sub`` packet on its ZeroMQ PUB socket
(``stats_spec``) as soon as a channel gets its first subscriber in a mode
(``"stream"``, ``"response"`` for long-polls, ``"ws"``), again within about a
second when the number of subscribers changes, and an ``"unavailable"`` one
when none is left (at once for streams and WebSockets; long-polls linger for
``subscription_linger``, 60 s). It is sent from the same place that adds the
client to the table a publish is delivered from, so once it is seen a publish
reaches that client: no sleeping, no probe message the client would receive.

The socket is read with libzmq, the library Pushpin itself is linked with,
through ctypes: nothing to install where Pushpin is installed. Pushpin must
write JSON stats (``stats_format=json``): :class:`grip_views.pushpin.Pushpin`
configures it so. Nothing here imports Django::

    with PushpinStats.of(pushpin) as stats:
        ...  # a client opens a stream on "news"
        stats.wait_subscribed("news")
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..pushpin.process import TEST_HOST, Pushpin

__all__ = ["PushpinStats", "PushpinStatsError"]

MODES = ("stream", "response", "ws")

# libzmq constants (zmq.h); stable across libzmq 3 and 4.
_ZMQ_SUB = 2
_ZMQ_SUBSCRIBE = 6
_ZMQ_LINGER = 17
_ZMQ_RCVTIMEO = 27
_RECV_POLL_MS = 100
# Stats packets are small; one that does not fit is not a "sub" packet we can use.
_RECV_BUFFER = 1 << 16
# Only subscription packets: "sub J{...}" (the space ends the packet type).
_TOPIC = b"sub "


class PushpinStatsError(RuntimeError):
    """Pushpin's stats could not be read; the message says what to change."""


def _load_libzmq() -> Any:
    names = [ctypes.util.find_library("zmq"), "libzmq.so.5", "libzmq.5.dylib", "libzmq.dylib"]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
        lib.zmq_ctx_new.restype = ctypes.c_void_p
        lib.zmq_ctx_new.argtypes = []
        lib.zmq_ctx_term.argtypes = [ctypes.c_void_p]
        lib.zmq_socket.restype = ctypes.c_void_p
        lib.zmq_socket.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.zmq_setsockopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
        lib.zmq_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.zmq_recv.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.zmq_close.argtypes = [ctypes.c_void_p]
        lib.zmq_errno.argtypes = []
        lib.zmq_strerror.restype = ctypes.c_char_p
        lib.zmq_strerror.argtypes = [ctypes.c_int]
        return lib
    raise PushpinStatsError(
        "reading Pushpin's stats needs libzmq, the library Pushpin is built with "
        "(Debian/Ubuntu: apt-get install libzmq5; it comes with Pushpin's package)"
    )


class PushpinStats:
    """Follows one Pushpin's subscriptions, from its stats socket, in a thread.

    ``endpoint`` is the handler's ``stats_spec`` (``ipc://...`` or ``tcp://...``).
    Only what happens after :meth:`start` is seen: start it before clients
    connect (the ``grip_live`` fixture does, before the test runs). Channel
    names are the proxy's, ``GRIP_PREFIX`` included; ``grip_live.wait_subscribed``
    takes your code's names.
    """

    def __init__(self, endpoint: str, *, pushpin: Pushpin | None = None) -> None:
        self.endpoint = endpoint
        self.pushpin = pushpin
        self._subscribers: dict[tuple[str, str], int] = {}
        self._packets = 0
        self._error: str | None = None
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, pushpin: Pushpin) -> PushpinStats:
        """The stats of a :class:`~grip_views.pushpin.Pushpin` (started), not yet read."""
        rundir = pushpin.rundir
        if rundir is None or pushpin.pid is None:
            raise PushpinStatsError("start the Pushpin first: its stats socket is in its rundir")
        return cls(f"ipc://{rundir}/pushpin-stats", pushpin=pushpin)

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> PushpinStats:
        """Connect and return once packets are known to arrive; a no-op if started.

        For a :class:`~grip_views.pushpin.Pushpin`, "known to arrive" means a
        stream held on its built-in test handler was reported; other
        endpoints are only connected (ZeroMQ may drop what is published in the
        first milliseconds).
        """
        if self._thread is not None:
            return self
        lib = _load_libzmq()
        connected = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(lib, connected), name=f"pushpin-stats {self.endpoint}", daemon=True
        )
        self._thread.start()
        connected.wait(timeout)
        if self._error is not None:
            self.close()
            raise PushpinStatsError(self._error)
        if self.pushpin is not None:
            try:
                self._wait_reported(self.pushpin, time.monotonic() + timeout)
            except BaseException:
                self.close()
                raise
        return self

    def close(self) -> None:
        """Stop reading and release the socket; safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> PushpinStats:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----------------------------------------------------------------- state
    def subscribers(self, channel: str | Iterable[str], mode: str | None = None) -> int:
        """How many clients Pushpin reported on ``channel`` (or the most on any of
        several names), in ``mode`` or in every mode together."""
        names = [channel] if isinstance(channel, str) else list(channel)
        with self._changed:
            return max((self._count(name, mode) for name in names), default=0)

    def subscriptions(self) -> dict[tuple[str, str], int]:
        """Every subscription Pushpin reported and still has: ``(mode, channel) -> subscribers``."""
        with self._changed:
            return dict(self._subscribers)

    def wait_subscribed(
        self,
        channel: str | Iterable[str],
        timeout: float = 5.0,
        *,
        subscribers: int = 1,
        mode: str | None = None,
    ) -> int:
        """Block until Pushpin reports at least ``subscribers`` clients on ``channel``.

        ``mode`` is ``"stream"`` (streams and SSE), ``"response"`` (long-polls),
        ``"ws"`` or None for any. Returns the number reported; raises
        ``TimeoutError`` saying what Pushpin reported instead. A count above
        one is reported up to a second after the client arrived.
        """
        return self._wait(channel, timeout, mode, lambda n: n >= subscribers, f"{subscribers} subscriber(s)")

    def wait_unsubscribed(
        self, channel: str | Iterable[str], timeout: float = 5.0, *, mode: str | None = None
    ) -> None:
        """Block until Pushpin reports no client left on ``channel``.

        Streams and WebSockets are reported at once; a long-poll channel only
        after ``subscription_linger`` (60 s).
        """
        self._wait(channel, timeout, mode, lambda n: n == 0, "no subscriber")

    # ------------------------------------------------------------ internals
    def _count(self, channel: str, mode: str | None) -> int:
        if mode is not None:
            if mode not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)} or None, not {mode!r}")
            return self._subscribers.get((mode, channel), 0)
        return sum(self._subscribers.get((m, channel), 0) for m in MODES)

    def _wait(
        self,
        channel: str | Iterable[str],
        timeout: float,
        mode: str | None,
        done: Callable[[int], bool],
        want: str,
    ) -> int:
        names = [channel] if isinstance(channel, str) else list(channel)
        if not names:
            raise ValueError("no channel given")

        def count() -> int:
            return max(self._count(name, mode) for name in names)

        with self._changed:
            if self._thread is None:
                raise PushpinStatsError("start() this PushpinStats before waiting on it")
            reached = self._changed.wait_for(lambda: self._error is not None or done(count()), timeout)
            if self._error is not None:
                raise PushpinStatsError(self._error)
            if reached:
                return count()
            found = count()
            others = ", ".join(f"{c!r} ({m}): {n}" for (m, c), n in sorted(self._subscribers.items())[:10])
        where = " or ".join(repr(n) for n in names) + (f" in mode {mode!r}" if mode else "")
        raise TimeoutError(
            f"Pushpin reported {found} subscriber(s) on {where} after {timeout:g} s, waiting for {want}; "
            f"it reports: {others or 'no subscription at all'}"
        )

    def _wait_reported(self, pushpin: Pushpin, deadline: float) -> None:
        """Hold a stream on the test handler until Pushpin reports it (proves the feed)."""
        while True:
            with self._changed:
                seen = self._packets

            def arrived(seen: int = seen) -> bool:
                return self._error is not None or self._packets > seen

            with _test_stream(pushpin), self._changed:
                reported = self._changed.wait_for(arrived, max(0.0, min(1.0, deadline - time.monotonic())))
            if self._error is not None:
                raise PushpinStatsError(self._error)
            if reported:
                return
            if time.monotonic() >= deadline:
                raise PushpinStatsError(
                    f"Pushpin reported no subscription on {self.endpoint}: is the handler's stats_spec "
                    f"that endpoint, with stats_format=json?"
                )

    def _run(self, lib: Any, connected: threading.Event) -> None:
        ctx = lib.zmq_ctx_new()
        sock = lib.zmq_socket(ctx, _ZMQ_SUB)
        try:
            for option, value in ((_ZMQ_LINGER, 0), (_ZMQ_RCVTIMEO, _RECV_POLL_MS)):
                number = ctypes.c_int(value)
                lib.zmq_setsockopt(sock, option, ctypes.byref(number), ctypes.sizeof(number))
            lib.zmq_setsockopt(sock, _ZMQ_SUBSCRIBE, _TOPIC, len(_TOPIC))
            if lib.zmq_connect(sock, self.endpoint.encode()) != 0:
                self._fail(f"could not connect to Pushpin's stats at {self.endpoint}: {_zmq_error(lib)}")
                return
            connected.set()
            buffer = ctypes.create_string_buffer(_RECV_BUFFER)
            while not self._stop.is_set():
                size = lib.zmq_recv(sock, buffer, _RECV_BUFFER, 0)
                if size < 0:
                    if lib.zmq_errno() in (errno.EAGAIN, errno.EINTR):
                        continue
                    self._fail(f"reading Pushpin's stats at {self.endpoint} failed: {_zmq_error(lib)}")
                    return
                if size <= _RECV_BUFFER:
                    self._handle(buffer.raw[:size])
        finally:
            connected.set()
            lib.zmq_close(sock)
            lib.zmq_ctx_term(ctx)

    def _handle(self, packet: bytes) -> None:
        body = packet[len(_TOPIC) :]
        if body[:1] != b"J":
            self._fail(f"Pushpin's stats at {self.endpoint} are not JSON: set stats_format=json in [handler]")
            return
        try:
            data = json.loads(body[1:])
            key = (str(data["mode"]), str(data["channel"]))
        except (ValueError, KeyError, TypeError):
            return  # not a subscription packet as Pushpin 1.x writes them
        with self._changed:
            if data.get("unavailable"):
                self._subscribers.pop(key, None)
            else:
                self._subscribers[key] = int(data.get("subscribers", 1))
            self._packets += 1
            self._changed.notify_all()

    def _fail(self, message: str) -> None:
        with self._changed:
            self._error = message
            self._changed.notify_all()


def _zmq_error(lib: Any) -> str:
    return str(lib.zmq_strerror(lib.zmq_errno()).decode(errors="replace"))


@contextlib.contextmanager
def _test_stream(pushpin: Pushpin) -> Iterator[None]:
    """A stream held on the Pushpin's built-in test handler (channel "test")."""
    assert pushpin.http_port is not None
    try:
        sock = socket.create_connection(("127.0.0.1", pushpin.http_port), timeout=5)
    except OSError as exc:
        raise PushpinStatsError(f"could not hold a test stream on {pushpin!r}: {exc}") from exc
    with sock:
        try:
            sock.sendall(f"GET /stream HTTP/1.1\r\nHost: {TEST_HOST}\r\n\r\n".encode())
        except OSError as exc:
            raise PushpinStatsError(f"could not hold a test stream on {pushpin!r}: {exc}") from exc
        yield
