"""Load-generator clients on loopback, all asyncio in the bench process.

Raw HTTP/1.1 over asyncio streams: a Python HTTP library would cost more CPU
per request than the servers being measured, on a machine with two cores.
WebSockets use the ``websockets`` package.
"""

from __future__ import annotations

import asyncio
import time

CONNECT_BATCH = 50  # Pushpin 1.36 answers bursts of > ~200 new requests with some 502s


def get_request(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n"
        f"User-Agent: grip-views-bench\r\n\r\n"
    ).encode()


def post_request(port: int, path: str, body: bytes, content_type: str, headers: dict | None = None) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}"
        f"User-Agent: grip-views-bench\r\n\r\n"
    )
    return head.encode() + body


def status_of(raw: bytes) -> int:
    try:
        return int(raw[9:12])
    except ValueError:
        return 0


def body_of(raw: bytes) -> bytes:
    """The body of a complete response read until EOF (plain or chunked)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out, pos = [], 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol == -1:
            break
        size = int(body[pos:eol].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(body[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2
    return b"".join(out)


def _complete(buf: bytes) -> bool:
    """A response with Content-Length whose body has fully arrived."""
    end = buf.find(b"\r\n\r\n")
    if end == -1:
        return False
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(buf) - end - 4 >= int(value)
    return False


async def exchange(port: int, request: bytes, until: bytes | None = None, timeout: float = 10.0) -> bytes:
    """Send one request on a new connection; read until EOF, or until the
    bytes `until` have arrived (then hang up, as a client leaving a stream), or
    until a response with Content-Length is complete."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(request)
        buf = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete answer in {timeout} s")
            chunk = await asyncio.wait_for(reader.read(65536), left)
            if not chunk:
                return buf
            buf += chunk
            if (until is not None and until in buf) or _complete(buf):
                return buf
    finally:
        writer.transport.abort()


async def run_load(make_one, total: int, concurrency: int = CONNECT_BATCH) -> tuple[int, dict, float]:
    """Run `total` calls of the coroutine function make_one(i) -> status with at
    most `concurrency` in flight; returns (ok count, {status: count}, seconds)."""
    counter = iter(range(total))
    statuses: dict = {}

    async def worker():
        for i in counter:
            try:
                status = await make_one(i)
            except (OSError, asyncio.TimeoutError, TimeoutError) as exc:
                status = type(exc).__name__
            statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, total))))
    elapsed = time.perf_counter() - start
    return statuses.get(200, 0), statuses, elapsed


class StreamClient(asyncio.Protocol):
    """An HTTP stream subscriber: opens, waits for the initial body, then records
    when each awaited marker arrives (perf_counter at data_received)."""

    def __init__(self, opened_marker: bytes):
        self.opened_marker = opened_marker
        self.opened = asyncio.get_running_loop().create_future()
        self.tail = b""
        self.status = 0
        self.waiting: bytes | None = None
        self.arrived: asyncio.Future | None = None
        self.received_lines = 0
        self.count_lines = False
        self.transport = None
        self.lost = False  # the connection closed (by the proxy, or by close())

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes):
        now = time.perf_counter()
        scan = self.tail + data
        if not self.opened.done():
            if not self.status and len(scan) >= 12:
                self.status = status_of(scan)
            if self.opened_marker in scan:
                self.opened.set_result(self.status)
                scan = scan[scan.index(self.opened_marker) + len(self.opened_marker) :]
        if self.count_lines:
            self.received_lines += data.count(b"\n#")
        if self.waiting is not None and self.waiting in scan:
            self.waiting = None
            if self.arrived is not None and not self.arrived.done():
                self.arrived.set_result(now)
        self.tail = scan[-64:]

    def connection_lost(self, exc):
        self.lost = True
        if not self.opened.done():
            self.opened.set_result(self.status or -1)
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)

    def expect(self, marker: bytes) -> asyncio.Future:
        """A future set to the arrival time of ``marker``, or to None once the
        connection is lost (at once if it is already)."""
        self.waiting = marker
        self.arrived = asyncio.get_running_loop().create_future()
        if self.lost:
            self.arrived.set_result(None)
        return self.arrived

    def close(self):
        if self.transport is not None:
            self.transport.abort()


async def open_streams(
    port: int, path: str, n: int, opened_marker: bytes, timeout: float = 20.0
) -> tuple[list[StreamClient], int]:
    """Open n streams, at most CONNECT_BATCH new ones at a time; returns the
    clients that opened with 200 and the number that failed."""
    loop = asyncio.get_running_loop()
    request = get_request(port, path)
    ok: list[StreamClient] = []
    failed = 0
    for first in range(0, n, CONNECT_BATCH):
        batch = []
        for _ in range(min(CONNECT_BATCH, n - first)):
            batch.append(loop.create_connection(lambda: StreamClient(opened_marker), "127.0.0.1", port))
        made = await asyncio.gather(*batch, return_exceptions=True)
        clients = []
        for m in made:
            if isinstance(m, BaseException):
                failed += 1
                continue
            transport, client = m
            transport.write(request)
            clients.append(client)
        for client in clients:
            try:
                status = await asyncio.wait_for(asyncio.shield(client.opened), timeout)
            except asyncio.TimeoutError:
                status = 0
            if status == 200:
                ok.append(client)
            else:
                failed += 1
                client.close()
    return ok, failed


async def open_websockets(url: str, n: int, timeout: float = 20.0):
    """Open n WebSockets, at most CONNECT_BATCH at a time; (open ones, failures)."""
    import websockets

    async def one():
        return await websockets.connect(
            url, open_timeout=timeout, ping_interval=None, compression=None, max_queue=64, close_timeout=2
        )

    return await open_batched(one, n)


async def open_batched(connect_one, n: int) -> tuple[list, int]:
    """n connections made by the coroutine function connect_one(), at most
    CONNECT_BATCH at a time; (those made, failures)."""
    ok, failed = [], 0
    for first in range(0, n, CONNECT_BATCH):
        made = await asyncio.gather(
            *(connect_one() for _ in range(min(CONNECT_BATCH, n - first))), return_exceptions=True
        )
        for m in made:
            if isinstance(m, BaseException):
                failed += 1
            else:
                ok.append(m)
    return ok, failed


async def close_websockets(sockets) -> None:
    for first in range(0, len(sockets), 500):
        chunk = sockets[first : first + 500]
        await asyncio.gather(*(ws.close() for ws in chunk), return_exceptions=True)
