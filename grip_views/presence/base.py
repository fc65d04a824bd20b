"""The presence store's interface, and what it answers: framework-free.

An entry is one connection of one member in one channel: ``(channel, member
key, connection id, info, expires_at)``. Connections with the same member key
are one member (Phoenix.Presence's semantics: a user with two tabs is one
member with two connections). The store says when a change is news:

* ``join``: a member's first live connection in a channel arrived;
* ``leave``: its last one left, or expired (``expire``);
* ``occupied``: a channel got its first member, and was not merely refilled
  within the debounce after it emptied;
* ``vacated``: a channel has had no member for the debounce (``expire``).

Each is reported once, however many processes share the store: every store
serializes the writes of one channel (a row lock, a Lua script).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Change", "Member", "PresenceBackend"]


@dataclass(frozen=True)
class Member:
    """One member of a channel: its key, its info, how many connections it has."""

    key: str
    info: Mapping[str, Any] = field(default_factory=dict)
    connections: int = 1

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "info": dict(self.info), "connections": self.connections}


@dataclass(frozen=True)
class Change:
    """News from the store: a member joined or left, a channel was occupied or vacated.

    ``count`` is the channel's number of members right after the change.
    """

    kind: Literal["join", "leave", "occupied", "vacated"]
    channel: str
    member: Member | None = None
    count: int = 0


class PresenceBackend:
    """Where presence entries live (the database by default, Redis for scale).

    Times are seconds since the epoch, given by the caller, so that tests and
    the expiry sweep agree on "now". Every method is safe to call from many
    processes at once.
    """

    def join(
        self,
        channel: str,
        member: str,
        connection: str,
        info: Mapping[str, Any],
        expires_at: float,
        now: float,
    ) -> list[Change]:
        """Add (or refresh) one connection of ``member``: a ``join`` if the member
        was not there, an ``occupied`` if the channel was vacated before.

        A store implements ``_add_entry`` (or overrides this method): it stores the
        entry and says whether that was news; the changes are made here, the same
        for every store."""
        joined = self._add_entry(channel, member, connection, info, expires_at)
        if joined is None:
            return []
        count, occupied = joined
        changes = [Change("join", channel, Member(member, info), count)]
        if occupied:
            changes.append(Change("occupied", channel, count=count))
        return changes

    def _add_entry(
        self, channel: str, member: str, connection: str, info: Mapping[str, Any], expires_at: float
    ) -> tuple[int, bool] | None:
        """Store (or refresh) the entry, under the channel's lock: None if ``member`` was
        already there, else the channel's member count with it and whether the channel
        was vacated before (so is now occupied)."""
        raise NotImplementedError

    def refresh(self, connection: str, expires_at: float, now: float) -> int:
        """Push back the expiry of the live entries of ``connection``; how many there were."""
        raise NotImplementedError

    def leave(self, connection: str, now: float) -> list[Change]:
        """Remove every entry of ``connection``: a ``leave`` for each member with none left."""
        raise NotImplementedError

    def expire(self, now: float, debounce: float) -> list[Change]:
        """Remove entries that expired by ``now`` (their ``leave``), and report the channels
        empty for ``debounce`` seconds as ``vacated``."""
        raise NotImplementedError

    def members(self, channel: str, now: float) -> list[Member]:
        """The members of ``channel`` with a live connection, by key."""
        raise NotImplementedError

    def count(self, channel: str, now: float) -> int:
        """How many members ``channel`` has (with a live connection)."""
        raise NotImplementedError
