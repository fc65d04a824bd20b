"""A lean WebSocket client for the race against Channels (bench/race.py).

Thousands of sockets in one asyncio process: with the ``websockets`` package
every delivery wakes a task and costs the bench process more CPU than the
proxy spends sending it, so a fan-out to 5,000 clients would time the load
generator. This client is an ``asyncio.Protocol``: the handshake by hand,
frames parsed in ``data_received``, and the arrival of an awaited text
recorded there (``time.perf_counter()``) without waking anything else. It
speaks just what the race needs: unfragmented text frames (masked, as a
client must), ping/pong and the closing handshake; no extension is offered.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time

from bench.clients import open_batched, status_of


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    if not n:
        return head + mask
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return head + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


class RawWebSocket(asyncio.Protocol):
    """One client socket. ``expect(text)`` then ``send(...)``: the future
    gets the perf_counter() at which a message containing ``text`` arrived, or
    None if the connection ended first."""

    def __init__(self, host: str, path: str):
        loop = asyncio.get_running_loop()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\nUser-Agent: grip-views-bench\r\n\r\n"
        ).encode()
        self.opened: asyncio.Future = loop.create_future()  # the handshake's status
        self.ended: asyncio.Future = loop.create_future()  # set when the TCP connection ends
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.handshaken = False
        self.close_sent = False
        self.received = 0
        self.waiting: bytes | None = None
        self.arrived: asyncio.Future | None = None

    @property
    def open(self) -> bool:
        return self.handshaken and not self.ended.done() and not self.close_sent

    # -- asyncio.Protocol -------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes):
        now = time.perf_counter()
        buf = self.buf
        buf += data
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end == -1:
                return
            status = status_of(bytes(buf[:12]))
            del buf[: end + 4]
            if status != 101:
                self.opened.set_result(status)
                self.transport.abort()
                return
            self.handshaken = True
            self.opened.set_result(101)
        while len(buf) >= 2:
            opcode, n, pos = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, pos = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, pos = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < pos + n:
                return
            payload = bytes(buf[pos : pos + n])
            del buf[: pos + n]
            if opcode in (0, 1, 2):
                self.received += 1
                if self.waiting is not None and self.waiting in payload:
                    self.waiting = None
                    if self.arrived is not None and not self.arrived.done():
                        self.arrived.set_result(now)
            elif opcode == 8:  # the server's close: answer it, then hang up
                if not self.close_sent:
                    self.close_sent = True
                    self.transport.write(_frame(8, payload[:2]))
                self.transport.close()
            elif opcode == 9:
                self.transport.write(_frame(10, payload))

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_result(-1)
        if not self.ended.done():
            self.ended.set_result(time.perf_counter())
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)

    # -- what the race calls ------------------------------------------------------
    def expect(self, text: str) -> asyncio.Future:
        self.waiting = text.encode()
        self.arrived = asyncio.get_running_loop().create_future()
        if self.ended.done():
            self.arrived.set_result(None)
        return self.arrived

    def send(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(1, text.encode()))

    async def close(self, timeout: float = 10.0) -> bool:
        """The closing handshake: close frame 1000, until the server ends the
        connection; True if it did within ``timeout``."""
        if not self.ended.done() and not self.close_sent:
            self.close_sent = True
            self.transport.write(_frame(8, (1000).to_bytes(2, "big")))
        try:
            await asyncio.wait_for(asyncio.shield(self.ended), timeout)
            return True
        except asyncio.TimeoutError:
            self.transport.abort()
            return False


async def connect(port: int, path: str, timeout: float = 20.0) -> RawWebSocket:
    """One socket, handshake done; raises ConnectionError on any other answer."""
    loop = asyncio.get_running_loop()
    host = f"127.0.0.1:{port}"
    _, ws = await asyncio.wait_for(
        loop.create_connection(lambda: RawWebSocket(host, path), "127.0.0.1", port), timeout
    )
    try:
        status = await asyncio.wait_for(asyncio.shield(ws.opened), timeout)
    except asyncio.TimeoutError:
        status = 0
    if status != 101:
        ws.transport.abort()
        raise ConnectionError(f"handshake answered {status}")
    return ws


async def open_many(port: int, path: str, n: int) -> tuple[list[RawWebSocket], int]:
    """n sockets, at most clients.CONNECT_BATCH handshakes at a time: (open ones, failures)."""
    return await open_batched(lambda: connect(port, path), n)


async def close_many(sockets: list[RawWebSocket]) -> int:
    """Close them all, 500 at a time; how many closing handshakes completed."""
    done = 0
    for first in range(0, len(sockets), 500):
        got = await asyncio.gather(*(ws.close() for ws in sockets[first : first + 500]))
        done += sum(got)
    return done
