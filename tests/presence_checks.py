"""One check of a presence store's semantics, run on SQLite, PostgreSQL and Redis
(in-process, or in a worker process: tests/history_worker.py ``presence``)."""

from __future__ import annotations

import uuid

from grip_views.presence.base import Member, PresenceBackend

ALICE = {"id": 1, "username": "alice"}
BOB = {"id": 2, "username": "bob"}


def _kinds(changes):
    return [(c.kind, c.member.key if c.member else None, c.count) for c in changes]


def check_store(store: PresenceBackend) -> None:
    ch = f"room-{uuid.uuid4().hex[:8]}"
    other = f"{ch}-b"
    t = 1_000_000.0
    # Phoenix semantics: the first connection of a member joins, the second does not.
    assert _kinds(store.join(ch, "1", "a1", ALICE, t + 10, t)) == [("join", "1", 1), ("occupied", None, 1)]
    assert store.join(ch, "1", "a2", ALICE, t + 10, t) == []
    assert _kinds(store.join(ch, "2", "b1", BOB, t + 10, t)) == [("join", "2", 2)]
    assert store.members(ch, t) == [Member("1", ALICE, 2), Member("2", BOB, 1)]
    assert store.count(ch, t) == 2
    # The last connection leaving is the member's leave, with its info.
    assert store.leave("a1", t + 1) == []
    left = store.leave("a2", t + 1)
    assert _kinds(left) == [("leave", "1", 1)] and left[0].member.info == ALICE
    assert store.leave("a2", t + 1) == []  # twice: nothing
    assert store.leave("never", t + 1) == []
    # Heartbeats push expiry back; an unknown or expired connection has nothing to refresh.
    assert store.refresh("b1", t + 20, t + 5) == 1
    assert store.refresh("nobody", t + 20, t + 5) == 0
    assert _kinds(store.expire(t + 15, 5)) == []
    assert store.members(ch, t + 15) == [Member("2", BOB, 1)]
    assert store.members(ch, t + 20) == []  # expired: not listed even before a sweep
    assert store.refresh("b1", t + 40, t + 20) == 0
    # Expiry is a leave; the empty channel is vacated only after the debounce...
    assert _kinds(store.expire(t + 21, 5)) == [("leave", "2", 0)]
    assert store.expire(t + 22, 5) == []
    # ...and a refill within it sends neither signal.
    assert _kinds(store.join(ch, "2", "b2", BOB, t + 50, t + 23)) == [("join", "2", 1)]
    assert _kinds(store.leave("b2", t + 24)) == [("leave", "2", 0)]
    assert store.expire(t + 28, 5) == []
    assert _kinds(store.expire(t + 30, 5)) == [("vacated", None, 0)]
    assert store.expire(t + 31, 5) == []  # once
    back = store.join(ch, "1", "a3", ALICE, t + 40, t + 31)
    assert _kinds(back) == [("join", "1", 1), ("occupied", None, 1)]
    # A member with an expired connection and a live one stays (no leave).
    assert store.join(ch, "1", "a4", ALICE, t + 60, t + 31) == []
    assert store.expire(t + 45, 5) == []
    assert store.members(ch, t + 45) == [Member("1", ALICE, 1)]
    # One connection in two channels leaves both.
    assert _kinds(store.join(other, "2", "b3", BOB, t + 60, t + 45))[0] == ("join", "2", 1)
    assert _kinds(store.join(ch, "2", "b3", BOB, t + 60, t + 45)) == [("join", "2", 2)]
    assert store.refresh("b3", t + 70, t + 46) == 2
    assert sorted((c.channel, c.kind) for c in store.leave("b3", t + 47)) == [(ch, "leave"), (other, "leave")]
    assert store.members(other, t + 47) == []
    # A connection's entry that expired but was not swept: joining again is no news.
    assert store.leave("a4", t + 48) != []
    assert store.members(ch, t + 48) == []
