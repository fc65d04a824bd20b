"""Presence through a real Pushpin: 200 sockets of 100 users, dropped sockets, a crashed proxy.

uvicorn serves tests.presence_urls (settings ``tests.settings_presence_e2e``, presence in
a SQLite file) behind a private Pushpin. An observer socket (anonymous, so not a member)
records every ``join`` and ``leave`` published on the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websockets

from grip_views.pushpin import Pushpin
from grip_views.testing.pytest_plugin import require_pushpin
from tests.e2e.support import free_port, start_uvicorn

ROOT = Path(__file__).resolve().parents[2]
KEY = "presence-e2e-key-0123456789abcdef0123456789"
USERS = 100
TABS = 2
OPEN_AT_ONCE = 50  # Pushpin opens WebSockets 50 at a time without 502s
TTL = 24  # GRIP_PRESENCE_TTL of tests.settings_presence_e2e
GRACE = 6  # seconds a loaded machine may add


class Stack:
    """A private Pushpin in front of a uvicorn process, presence in a SQLite file."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.pushpin = Pushpin(
            backend=f"127.0.0.1:{self.port}", sig_key=KEY, http_port=free_port(), publish_port=free_port()
        )
        self.server: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings_presence_e2e",
            "GV_PRESENCE_DB": str(workdir / "presence.sqlite3"),
            "GRIP_E2E_KEY": KEY,
            "PYTHONPATH": str(ROOT),
        }

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "django", *args],
            env={**self.env, "GRIP_E2E_PUBLISH_URL": self.pushpin.publish_url},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def start_server(self) -> None:
        self.server = start_uvicorn(
            self.port,
            {**self.env, "GRIP_E2E_PUBLISH_URL": self.pushpin.publish_url},
            self.workdir / "uvicorn.log",
            f"http://127.0.0.1:{self.port}/members/up/",
        )

    def members(self, room: str) -> dict:
        """The members endpoint, asked directly (not through the proxy)."""
        return requests.get(f"http://127.0.0.1:{self.port}/members/{room}/", timeout=10).json()  # type: ignore[no-any-return]

    def crash_pushpin(self) -> None:
        """SIGKILL the runner and each of its services by PID: no goodbye reaches the app."""
        pids = [*self.pushpin.child_pids.values(), self.pushpin.pid]
        for pid in pids:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(10)
        self.pushpin.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_pushpin()
    s = Stack(tmp_path_factory.mktemp("presence"))
    s.pushpin.start()
    try:
        s.manage("migrate", "--noinput", "-v", "0")
        s.start_server()
        yield s
    finally:
        s.stop()


class Observer:
    """A socket on the room that is not a member: every join and leave it is sent."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []  # (time, event, member key)

    async def run(self, ws: websockets.ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                message = json.loads(raw)
                if message.get("event") in ("join", "leave"):
                    self.events.append((time.monotonic(), message["event"], message["member"]["key"]))

    def of(self, event: str) -> list[str]:
        return [key for _, e, key in self.events if e == event]


async def _wait(condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def _open_tab(url: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, open_timeout=30, ping_interval=None)
    state = json.loads(await asyncio.wait_for(ws.recv(), 30))  # the members, once joined
    assert state["event"] == "presence_state"
    return ws


async def _scenario(stack: Stack, room: str) -> dict:
    base = f"ws://127.0.0.1:{stack.pushpin.http_port}/ws/{room}/"
    guest = f"ws://127.0.0.1:{stack.pushpin.http_port}/guest/{room}/"
    observer = Observer()
    watch = await websockets.connect(base, open_timeout=30, ping_interval=None)
    await watch.send(json.dumps("sync"))
    assert json.loads(await asyncio.wait_for(watch.recv(), 30)) == {"echo": "sync"}  # subscribed
    listening = asyncio.create_task(observer.run(watch))
    figures: dict = {}

    start = time.monotonic()
    names = [f"u{n:03d}" for n in range(USERS) for _ in range(TABS)]
    tabs: list[websockets.ClientConnection] = []
    for i in range(0, len(names), OPEN_AT_ONCE):
        tabs += await asyncio.gather(*(_open_tab(f"{guest}?name={n}") for n in names[i : i + OPEN_AT_ONCE]))
    figures["opened_s"] = time.monotonic() - start
    figures["joins_s"] = await _wait(lambda: len(observer.of("join")) >= USERS, 30, f"{USERS} joins")
    figures["members_after_open"] = stack.members(room)["count"]

    # Drop 100 sockets without a close frame: both tabs of the first 40 users, one of the next 20.
    gone_users = {f"u{n:03d}" for n in range(40)}
    dropped = [i for i, n in enumerate(names) if n in gone_users or (n < "u060" and i % 2)]
    await asyncio.sleep(0.5)  # the last joins' publishes are out: a late join would not be a leave
    start = time.monotonic()
    for i in dropped:
        tabs[i].transport.abort()
    figures["dropped"] = len(dropped)
    figures["leaves_s"] = await _wait(lambda: len(observer.of("leave")) >= len(gone_users), 15, "the leaves")
    await asyncio.sleep(2)  # room for a leave that should not come
    figures["leaves"] = sorted(observer.of("leave"))
    figures["gone_users"] = sorted(gone_users)
    figures["members_after_drop"] = stack.members(room)["count"]
    figures["joins"] = Counter(observer.of("join"))
    figures["leave_counts"] = Counter(observer.of("leave"))

    # Crash the proxy: the app hears nothing; every entry expires within the TTL.
    crashed = time.monotonic()
    stack.crash_pushpin()
    figures["left_after_crash"] = USERS - len(gone_users)
    while stack.members(room)["count"] and time.monotonic() - crashed < TTL + GRACE + 5:
        await asyncio.sleep(0.25)
    figures["gone_s"] = time.monotonic() - crashed
    figures["members_after_crash"] = stack.members(room)["count"]
    listening.cancel()
    for ws in [*tabs, watch]:
        ws.transport.abort()
    return figures


def test_200_sockets_of_100_users_join_leave_on_a_drop_and_vanish_when_the_proxy_crashes(stack):
    room = f"r{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    f = asyncio.run(_scenario(stack, room))
    swept = stack.manage("grip_presence_sweep", "--once")
    sweep_leaves = swept.count("leave ")
    print(
        f"\n[presence] {USERS * TABS} sockets of {USERS} users opened in {f['opened_s']:.1f} s; "
        f"{sum(f['joins'].values())} joins ({len(f['joins'])} members, most for one member "
        f"{max(f['joins'].values())}) seen {f['joins_s']:.1f} s after; "
        f"members endpoint {f['members_after_open']}\n"
        f"[presence] {f['dropped']} sockets dropped without a close frame: {len(f['leaves'])} leaves in "
        f"{f['leaves_s']:.2f} s (expected {len(f['gone_users'])}); members {f['members_after_drop']}\n"
        f"[presence] Pushpin SIGKILLed with {f['left_after_crash']} members connected: members 0 after "
        f"{f['gone_s']:.1f} s (TTL {TTL} s); grip_presence_sweep then announced {sweep_leaves} leaves; "
        f"whole run {time.monotonic() - started:.1f} s"
    )
    assert f["members_after_open"] == USERS
    assert len(f["joins"]) == USERS and set(f["joins"].values()) == {1}  # no duplicate join
    assert f["dropped"] == 100
    assert f["leaves"] == f["gone_users"]  # exactly the users with no tab left, once each
    assert f["members_after_drop"] == USERS - len(f["gone_users"])
    assert f["members_after_crash"] == 0 and f["gone_s"] <= TTL + GRACE
    assert sweep_leaves == USERS - len(f["gone_users"])
