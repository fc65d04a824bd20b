"""Presence of an SSE client through a real Pushpin: the proxy's heartbeats (the signed
next link with ``timeout=``) keep it a member past the TTL; once it goes they stop, and
it leaves."""

from __future__ import annotations

import time
import uuid

from grip_views.presence import members, sweep
from tests.e2e.support import StreamReader

TTL = 6
HEARTBEAT = 2


def _event(reader: StreamReader, name: str, timeout: float = 15) -> list[bytes]:
    """The lines of the next SSE event called ``name`` (skipping others)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = reader.next(timeout)
        assert line is not None, "stream ended"
        if line == b"event: " + name.encode():
            lines = [line]
            while lines[-1] != b"":
                lines.append(reader.next(timeout))  # type: ignore[arg-type]
            return lines
    raise AssertionError(f"no {name} event")


def test_an_sse_member_is_kept_by_pushpins_heartbeats_and_leaves_when_it_goes(
    grip_live, settings, django_user_model
):
    settings.GRIP_PRESENCE_TTL = TTL
    settings.GRIP_PRESENCE_HEARTBEAT = HEARTBEAT
    alice = django_user_model.objects.create_user("alice")
    room = f"r{uuid.uuid4().hex[:8]}"
    path = f"{grip_live.url}/presence/events/{room}/"
    observer = StreamReader(path)  # anonymous: held on the room, not a member
    reader = None
    try:
        grip_live.wait_subscribed(f"room-{room}", mode="stream")
        reader = StreamReader(path, headers=grip_live.login_headers(alice))
        assert b'"username":"alice"' in _event(reader, "presence_state")[1]
        assert b'"username":"alice"' in _event(observer, "join")[1]
        joined = time.monotonic()
        # Past the TTL, still a member: Pushpin fetched the heartbeat link meanwhile.
        while time.monotonic() - joined < TTL + HEARTBEAT:
            assert [m.info["username"] for m in members(f"room-{room}")] == ["alice"]
            time.sleep(0.5)
        reader.close()
        closed = time.monotonic()
        while members(f"room-{room}") and time.monotonic() - closed < TTL + HEARTBEAT + 10:
            time.sleep(0.2)
        gone_after = time.monotonic() - closed
        assert members(f"room-{room}") == []
        assert [c.kind for c in sweep()] == ["leave"]
        assert b'"username":"alice"' in _event(observer, "leave")[1]
        print(
            f"\n[presence-sse] kept {TTL + HEARTBEAT} s by heartbeats; gone {gone_after:.1f} s after closing"
        )
        assert gone_after <= TTL + HEARTBEAT + 3  # the promise: at most the TTL after the last heartbeat
    finally:
        observer.close()
        if reader is not None:
            reader.close()
