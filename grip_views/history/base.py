"""The history store's interface, and what is stored: framework-free.

An event's ``payload`` is stored without its id, which is only known once the
store assigned it; :func:`render` turns a payload and its id into the formats
a proxy's ``/publish/`` takes. A payload holds any of:

``"formats"``  exported formats, sent as they are (``publish(..., durable=True)``)
``"sse"``      a framed Server-Sent Event without ``id:``; sent as ``http-stream``
               with ``id: <id>`` put first
``"ws"``       a JSON value; sent as ``ws-message`` ``{"id": "<id>", "data": value}``
``"lp"``       ``{"code", "headers", "body"}``; sent as ``http-response`` with an
               ``Event-Id: <id>`` header
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..protocol.instructions import json_default

__all__ = [
    "HistoryBackend",
    "Replay",
    "SendBatch",
    "StoredEvent",
    "encode_payload",
    "parse_event_id",
    "render",
]

#: An event id as clients send it back: a decimal number that fits a 63-bit integer.
_ID_RE = re.compile(r"[0-9]{1,18}")


#: What ``drain`` gives a channel's unsent events to: it sends them, or raises.
SendBatch = Callable[[list["StoredEvent"]], None]


def parse_event_id(value: str | None) -> int | None:
    """The id a client sent (``Last-Event-ID``, ``?after=``), or None if it is not one."""
    if value is None:
        return None
    value = value.strip()
    if not _ID_RE.fullmatch(value):
        return None
    return int(value)


@dataclass(frozen=True)
class StoredEvent:
    """One event of a channel's history."""

    channel: str
    id: int
    payload: Mapping[str, Any]
    created: float = 0.0  # seconds since the epoch

    def formats(self) -> dict[str, Any]:
        return render(self.payload, self.id)


@dataclass(frozen=True)
class Replay:
    """What a client that last saw ``after`` missed on ``channel``.

    ``reset`` is True when the history cannot say: ``after`` is older than what
    is kept (events were trimmed) or newer than the channel's last id (an id
    from another store, or one made up). Then ``events`` is empty and the
    client must reload its state. ``last_id`` is the channel's newest id.
    """

    channel: str
    after: int
    last_id: int
    events: Sequence[StoredEvent] = field(default_factory=tuple)
    reset: bool = False


def encode_payload(payload: Mapping[str, Any]) -> str:
    """A payload as the compact JSON text a store keeps; raises ``TypeError`` for
    a value JSON cannot hold (bytes of exported formats become their text)."""
    return json.dumps(payload, separators=(",", ":"), default=json_default)


def render(payload: Mapping[str, Any], event_id: int) -> dict[str, Any]:
    """The formats to publish for a stored payload with id ``event_id``."""
    formats: dict[str, Any] = dict(payload.get("formats") or {})
    sse = payload.get("sse")
    if sse is not None:
        formats["http-stream"] = {"content": f"id: {event_id}\n{sse}"}
    if "ws" in payload:
        text = json.dumps({"id": str(event_id), "data": payload["ws"]}, separators=(",", ":"))
        formats["ws-message"] = {"content": text}
    lp = payload.get("lp")
    if lp is not None:
        headers = {**(lp.get("headers") or {}), "Event-Id": str(event_id)}
        body = lp.get("body", "")
        formats["http-response"] = {"code": lp.get("code", 200), "headers": headers, "body": body}
    return formats


class HistoryBackend:
    """Where events are kept, with per-channel ids that only grow.

    ``append`` assigns the next id of a channel atomically, however many
    processes write at once; ids have no holes. The sender reads the unsent
    events of a channel under :meth:`sending` (one sender per channel at a
    time, so order is kept) and marks them sent.
    """

    #: Whether ``append`` joins the caller's database transaction (the
    #: transactional outbox). False: the event is appended after the commit.
    transactional: bool = False

    def append(
        self, channel: str, payload: Mapping[str, Any], *, using: str | None = None, holder: str | None = None
    ) -> int:
        """Store one event; its id.

        ``holder`` is the token of the process's sender thread, which will send
        the event: a store with a send lease may give the channel's lease to it
        in the same write, so that its :meth:`drain` starts without a write.
        """
        raise NotImplementedError

    def read(self, channel: str, after: int, limit: int | None = None) -> Replay:
        """The events of ``channel`` after id ``after`` (a reset if the history cannot say)."""
        raise NotImplementedError

    def last_id(self, channel: str) -> int:
        """The channel's newest id (0 when it never had one)."""
        raise NotImplementedError

    def trim(self, max_events: int | None = None, max_age: float | None = None) -> int:
        """Drop sent events beyond the newest ``max_events`` of each channel or older
        than ``max_age`` seconds; the number dropped. Unsent events are kept."""
        raise NotImplementedError

    # -- the outbox ------------------------------------------------------------------
    def unsent_channels(self) -> list[str]:
        """Channels with events not yet accepted by every proxy."""
        raise NotImplementedError

    @contextmanager
    def sending(self, channel: str) -> Iterator[None]:
        """Hold the channel's send lock (blocks while another sender holds it)."""
        raise NotImplementedError
        yield  # pragma: no cover

    def unsent(self, channel: str, limit: int) -> list[StoredEvent]:
        """The oldest unsent events of ``channel``, in id order (call under :meth:`sending`)."""
        raise NotImplementedError

    def mark_sent(self, channel: str, ids: Sequence[int]) -> None:
        """Mark these events sent (call under :meth:`sending`)."""
        raise NotImplementedError

    def drain(self, channel: str, limit: int, send: SendBatch, *, holder: str | None = None) -> int:
        """Give ``send`` the channel's unsent events, oldest first, ``limit`` at a
        time, under the channel's send lease, and mark them sent once ``send``
        returned; how many were sent. What ``send`` raises for a batch leaves it and
        the ones after it unsent. The outbox's sender calls this; a store may do it
        with fewer writes than :meth:`sending`, :meth:`unsent` and :meth:`mark_sent`.
        ``holder``: the token :meth:`append` was given, if the caller is that sender."""
        total = 0
        while True:
            with self.sending(channel):
                events = self.unsent(channel, limit)
                if not events:
                    return total
                send(events)
                self.mark_sent(channel, [event.id for event in events])
            total += len(events)
            if len(events) < limit:
                return total

    def drain_unfinished(self, channel: str, holder: str) -> bool:
        """Whether ``holder``'s last :meth:`drain` of ``channel`` stopped short of a
        write that would have waited for the requests' writers (a store may defer
        it: sent marks, or taking the lease): the sender drains it again soon."""
        return False
