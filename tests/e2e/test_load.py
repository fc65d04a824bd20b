"""Load through a real Pushpin (issue 6, point 6): 500 WebSocket clients, 500 stream
clients, 10,000 published messages; counts sent, received, lost and server errors.

Clients are asyncio (aiohttp) in this process; Django is pytest-django's live
server behind the session's Pushpin. New connections are opened at most
``OPEN_AT_ONCE`` at a time: Pushpin 1.36 answers bigger bursts with 502, and
the live server's listen backlog is small (see the Pushpin README's load
facts). Bounded in count and time; asserts on counts only, never on timings.
The figures are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import resource
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from django.core.signals import got_request_exception
from gripcontrol import HttpStreamFormat, WebSocketMessageFormat

from grip_views import flush, get_publisher, publish

WS_CLIENTS = 500
STREAM_CLIENTS = 500
CLIENTS_PER_CHANNEL = 5
MESSAGES = 10_000  # half on WebSocket channels, half on stream channels
OPEN_AT_ONCE = 10  # well under the 50 Pushpin 1.36 takes without 502s
DEADLINE = 90  # seconds for the whole run: a bound, never asserted on


@dataclass
class Client:
    kind: str  # "ws" or "stream"
    channel: str
    got: list[int] = field(default_factory=list)
    opened: bool = False
    synced: bool = False
    ended_early: bool = False


@dataclass
class Tally:
    open_status: Counter = field(default_factory=Counter)  # HTTP status of each open
    open_errors: Counter = field(default_factory=Counter)  # failures without a status
    attempted: int = 0
    sync_rounds: int = 0


def _raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _handle(client: Client, text: str) -> None:
    if text == "sync":
        client.synced = True
    elif text.startswith("m "):
        client.got.append(int(text[2:]))


async def _run_ws(
    session, url: str, client: Client, gate: asyncio.Semaphore, tally: Tally, stop: asyncio.Event
):
    async with gate:
        try:
            ws = await session.ws_connect(url, autoping=True, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as exc:
            tally.open_status[exc.status] += 1
            return
        except (aiohttp.ClientError, OSError) as exc:
            tally.open_errors[type(exc).__name__] += 1
            return
        finally:
            tally.attempted += 1
        tally.open_status[101] += 1
        client.opened = True
        await ws.send_str("sync")  # echoed: one round trip proves the subscription
    try:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                _handle(client, msg.data)
        client.ended_early = not stop.is_set()
    finally:
        await ws.close()


async def _run_stream(
    session, url: str, client: Client, gate: asyncio.Semaphore, tally: Tally, stop: asyncio.Event
):
    async with gate:
        try:
            response = await session.get(url)
        except (aiohttp.ClientError, OSError) as exc:
            tally.open_errors[type(exc).__name__] += 1
            return
        finally:
            tally.attempted += 1
        tally.open_status[response.status] += 1
        if response.status != 200 or await response.content.readline() != b"open\n":
            tally.open_errors["no first body"] += response.status == 200
            response.close()
            return
        client.opened = True
    try:
        async for line in response.content:
            _handle(client, line.decode().rstrip("\n"))
        client.ended_early = not stop.is_set()
    except (aiohttp.ClientError, OSError):
        client.ended_early = not stop.is_set()
    finally:
        response.close()


def _publish_all(items: list[tuple[str, str, int]]) -> tuple[float, int]:
    """Publish every message non-blocking (batched by the library), then flush."""
    started = time.monotonic()
    for kind, channel, seq in items:
        text = f"m {seq}"
        fmt = WebSocketMessageFormat(text) if kind == "ws" else HttpStreamFormat(text + "\n")
        publish(channel, fmt, blocking=False)
    assert flush(timeout=60)
    return time.monotonic() - started, get_publisher().stats["failed"]


async def _load(proxy_url: str, ws_url: str) -> dict:
    run = uuid.uuid4().hex[:8]
    clients = [Client("ws", f"load-{run}-ws-{i // CLIENTS_PER_CHANNEL}") for i in range(WS_CLIENTS)] + [
        Client("stream", f"load-{run}-st-{i // CLIENTS_PER_CHANNEL}") for i in range(STREAM_CLIENTS)
    ]
    channels = {c.channel: c.kind for c in clients}
    per_channel = MESSAGES // len(channels)
    tally, stop, gate = Tally(), asyncio.Event(), asyncio.Semaphore(OPEN_AT_ONCE)
    timeout = aiohttp.ClientTimeout(total=None, connect=20, sock_connect=20, sock_read=None)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.monotonic()
        tasks = [
            asyncio.create_task(
                _run_ws(session, f"{ws_url}/sec/e2e/ws/{c.channel}/", c, gate, tally, stop)
                if c.kind == "ws"
                else _run_stream(session, f"{proxy_url}/sec/e2e/stream/{c.channel}/", c, gate, tally, stop)
            )
            for c in clients
        ]
        # Every WebSocket echoes "sync" once open; streams get "sync" published to them
        # until each has it, so nothing counted is published before a client listens.
        while time.monotonic() - started < DEADLINE / 3:
            await asyncio.sleep(0.5)
            if tally.attempted < len(clients):
                continue
            waiting = [c for c in clients if c.opened and not c.synced]
            if not waiting:
                break
            tally.sync_rounds += 1
            for channel in {c.channel for c in waiting if c.kind == "stream"}:
                await asyncio.to_thread(publish, channel, HttpStreamFormat("sync\n"))
        opened_in = time.monotonic() - started
        listening = [c for c in clients if c.synced]

        items = [(channels[ch], ch, seq) for seq in range(per_channel) for ch in channels]
        publish_time, publish_failed = await asyncio.to_thread(_publish_all, items)
        expected = sum(per_channel for _ in listening)
        delivered_by = time.monotonic()
        while time.monotonic() - started < DEADLINE:
            if sum(len(c.got) for c in listening) >= expected:
                break
            await asyncio.sleep(0.2)
        delivered_in = time.monotonic() - delivered_by
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    received = sum(len(c.got) for c in listening)
    return {
        "clients": len(clients),
        "opened": {k: v for k, v in sorted(tally.open_status.items())},
        "open_errors": dict(tally.open_errors),
        "listening": len(listening),
        "sync_rounds": tally.sync_rounds,
        "open_seconds": opened_in,
        "published": len(items),
        "publish_failed": publish_failed,
        "publish_seconds": publish_time,
        "expected": expected,
        "received": received,
        "lost": sum(max(0, per_channel - len(set(c.got))) for c in listening),
        "duplicates": sum(len(c.got) - len(set(c.got)) for c in listening),
        "out_of_order": sum(c.got != sorted(c.got) for c in listening),
        "ended_early": sum(c.ended_early for c in clients),
        "deliver_seconds": delivered_in,
    }


def test_500_websockets_and_500_streams_get_10000_messages_with_none_lost(grip_live, settings):
    nofile = _raise_nofile()
    settings.GRIP_PUBLISH_TIMEOUT = 10
    django_errors = []

    def count(sender, request=None, **kwargs):
        django_errors.append(request.path if request is not None else "?")

    got_request_exception.connect(count, weak=False)
    started = time.monotonic()
    try:
        figures = asyncio.run(_load(grip_live.url, grip_live.ws_url))
    finally:
        got_request_exception.disconnect(count)
    server_errors = sum(n for status, n in figures["opened"].items() if status >= 500) + len(django_errors)
    print(
        f"\n[load] RLIMIT_NOFILE {nofile[0]}; {WS_CLIENTS} WebSocket + {STREAM_CLIENTS} stream clients "
        f"({CLIENTS_PER_CHANNEL} per channel, opened {OPEN_AT_ONCE} at a time): open statuses "
        f"{figures['opened']}, errors {figures['open_errors']}, {figures['listening']} listening after "
        f"{figures['open_seconds']:.1f} s ({figures['sync_rounds']} sync rounds)\n"
        f"[load] sent {figures['published']} messages ({figures['publish_failed']} publish failures, "
        f"{figures['publish_seconds']:.1f} s); expected deliveries {figures['expected']}, received "
        f"{figures['received']}, lost {figures['lost']}, duplicates {figures['duplicates']}, clients out "
        f"of order {figures['out_of_order']}, connections ended early {figures['ended_early']}; "
        f"5xx/server errors {server_errors} (Django exceptions {len(django_errors)}); delivered "
        f"{figures['deliver_seconds']:.1f} s after the last publish; "
        f"whole run {time.monotonic() - started:.1f} s"
    )
    assert figures["opened"] == {101: WS_CLIENTS, 200: STREAM_CLIENTS}
    assert figures["open_errors"] == {}
    assert figures["listening"] == WS_CLIENTS + STREAM_CLIENTS
    assert figures["published"] == MESSAGES and figures["publish_failed"] == 0
    assert figures["expected"] == MESSAGES * CLIENTS_PER_CHANNEL
    assert figures["received"] == figures["expected"]
    assert figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["ended_early"] == 0
    assert server_errors == 0
