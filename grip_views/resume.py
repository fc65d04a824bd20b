"""Resuming from the last id: what durable views answer a client that comes back.

* ``EventStreamView`` (``durable = True``): ``Last-Event-ID`` (the header, or
  ``?last_event_id=`` on a first connection) gets every missed event in the
  first body, then a reliable hold: ``prev-id`` is the last id sent, and a
  signed next link that Pushpin fetches (with ``Grip-Last``) when it sees a gap.
* ``GripLongPollView``: ``?after=<id>`` is answered at once with what was
  missed, else held with ``prev-id`` set to that id.
* ``WebSocketView``: ``?last_id=<id>`` on connect; the missed messages are sent
  in the answer to the handshake, before anything live.

A client that comes without a last id gets the view's snapshot
(:meth:`~grip_views.views.GripView.get_snapshot`) at version V, the channel's
last id, and is held from V: see :func:`read_snapshot` for why nothing
published in between is lost.

After a replay both say how far it went with a ``caught_up_event``
(``{"last_id": "<id>", "missed": <count>}``): an SSE event of that name on a
resume, and on every durable socket's open a ``{"id", "event", "missed"}``
message, so a socket learns the channel's last id even before its first event
(``grip_views/static/grip_views/grip-socket.js`` reads it).

Authorization (``on_open``, ``channels_for``, ``can_subscribe``) runs before
any replay. A next link is signed with Django's signing (``SECRET_KEY``) over
its view's path and channel, so a client cannot make one that reads another
channel. An id older than the history, or newer than the channel's last, gets
an explicit reset event; an id that is not an id is a 400.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

from .exceptions import RejectConnection
from .history import Replay, get_history, parse_event_id
from .protocol.instructions import Channel, Hold, make_hold
from .protocol.sse import format_event

if TYPE_CHECKING:
    from .views import EventStreamView, GripLongPollView, GripView, WebSocketView

__all__ = [
    "NEXT_PARAM",
    "next_link_for",
    "read_next_token",
    "read_signed_link",
    "read_snapshot",
    "reliable_hold",
    "replay_stream",
    "signed_link",
    "stream_content",
]

logger = logging.getLogger(__name__)

#: The query parameter of a durable stream's next link.
NEXT_PARAM = "grip_next"
_SALT = "grip_views.resume.next-link"
#: Seconds a next link stays valid; Pushpin gets a fresh one with each answer.
NEXT_LINK_MAX_AGE = 3600


def signed_link(path: str, param: str, salt: str, data: dict[str, Any]) -> str:
    """``path?param=<token>``: ``data`` signed with ``SECRET_KEY`` for ``path`` only."""
    token = signing.dumps({"p": path, **data}, salt=salt, compress=True)
    return f"{quote(path)}?{param}={quote(token)}"


def read_signed_link(token: str, path: str, salt: str, max_age: int) -> dict[str, Any]:
    """The data of a :func:`signed_link` token; RejectConnection (403) if forged, stale or
    made for another path."""
    try:
        value = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise RejectConnection("This next link has expired.", status=403) from None
    except signing.BadSignature:
        raise RejectConnection("This next link was not made by this app.", status=403) from None
    if not isinstance(value, dict) or value.get("p") != path:
        raise RejectConnection("This next link is for another view.", status=403)
    return value


def next_link_for(path: str, channel: str) -> str:
    return signed_link(path, NEXT_PARAM, _SALT, {"c": channel})


def read_next_token(token: str, path: str) -> str:
    """The channel a next link was made for; raises RejectConnection (403) if forged or stale."""
    value = read_signed_link(token, path, _SALT, NEXT_LINK_MAX_AGE)
    if not isinstance(value.get("c"), str):
        raise RejectConnection("This next link is for another view.", status=403)
    return str(value["c"])


def _one_channel(view: Any, channels: tuple[Channel, ...]) -> Channel:
    if len(channels) != 1:
        raise ImproperlyConfigured(
            f"{type(view).__qualname__} is durable, so its clients resume from one channel's ids: "
            f"channels_for() must return exactly one channel, not {len(channels)}."
        )
    return channels[0]


def _client_id(value: str | None, what: str) -> int | None:
    """A client's last id; None when it sent none; a 400 when it is not an id."""
    if value is None or value.strip() == "":
        return None
    parsed = parse_event_id(value)
    if parsed is None:
        raise RejectConnection(f"{what} must be an event id this server sent (a decimal number).", status=400)
    return parsed


# --------------------------------------------------------------------- snapshots
def read_snapshot(view: GripView, channels: tuple[Channel, ...]) -> tuple[int, Any]:
    """The channel's version V (its last id), then the view's snapshot (None: it has none).

    The order is the guarantee. V is read first, the state after it: every
    event with an id up to V was committed before V could be read (the
    database store hands out a channel's ids under its row lock, so they
    commit in id order; the Redis store appends after the commit), so a state
    read later has it. A change committed while the state is read may be in
    it too, and it still comes after the snapshot, with an id above V: a
    duplicate at worst, never a gap. Read the other way round, a change
    committed in between would be in neither. (A state read from a database
    snapshot taken *before* V, in a REPEATABLE READ transaction opened
    earlier, would break this; the same transaction on the same database as
    the store, or Django's autocommit, keeps it.)
    """
    version = get_history().last_id(channels[0].name) if len(channels) == 1 else None
    state = view.awaited(view.get_snapshot())
    if state is not None and version is None:
        _one_channel(view, channels)  # raises: a snapshot's version is one channel's
    return version or 0, state


# --------------------------------------------------------------------- streams
def stream_content(replay: Replay) -> tuple[str, int]:
    """The stream content of a replay's events, and the last id it covers."""
    parts = [event.formats().get("http-stream", {}).get("content", "") for event in replay.events]
    return "".join(parts), (replay.events[-1].id if replay.events else replay.after)


def replay_stream(request: HttpRequest, token: str) -> tuple[str, Replay]:
    """A next link's request: its channel, and what was published after its
    ``Grip-Last`` id. Raises RejectConnection (a 4xx) for a forged or stale
    link, or one without ``Grip-Last``."""
    channel = read_next_token(token, request.path)
    last = request.grip.last.get(channel)  # type: ignore[attr-defined]
    after = _client_id(last, "Grip-Last's last-id") if last is not None else None
    if after is None:
        raise RejectConnection("A next link request needs Grip-Last with the channel's last-id.", status=400)
    return channel, get_history().read(channel, after)


def reliable_hold(
    channel: Channel,
    prev_id: int,
    path: str,
    *,
    keep_alive: str | bytes | None,
    keep_alive_interval: int,
    link_timeout: int,
    status: int | None = None,
) -> Hold:
    """A stream hold from ``prev_id`` with a signed next link, so the proxy
    fetches what it missed after that id (see :func:`replay_stream`)."""
    return make_hold(
        "stream",
        (Channel(channel.name, prev_id=str(prev_id), filters=channel.filters),),
        keep_alive=keep_alive,
        keep_alive_interval=keep_alive_interval,
        next_link=next_link_for(path, channel.name),
        next_link_timeout=link_timeout,
        status=status,
    )


# --------------------------------------------------------------------- Server-Sent Events
def _sse_replay(view: EventStreamView, replay: Replay) -> tuple[str, int]:
    """The missed events as SSE text, and the last id it covers."""
    if not replay.reset:
        return stream_content(replay)
    logger.info(
        "grip_views: %s: last id %d of %r is not in the history (last %d): reset",
        type(view).__qualname__,
        replay.after,
        replay.channel,
        replay.last_id,
    )
    data = {"last_id": str(replay.last_id), "reason": "events since your last id are no longer kept"}
    return format_event(data, event=view.reset_event, id=str(replay.last_id)), replay.last_id


def _stream_hold(view: EventStreamView, channel: Channel, prev_id: int) -> Hold:
    timeout = view.next_link_timeout if view.next_link_timeout is not None else view.resume_link_timeout
    return reliable_hold(
        channel,
        prev_id,
        view.request.path,
        keep_alive=view.get_keep_alive(),
        keep_alive_interval=view.keep_alive_interval,
        link_timeout=timeout,
        status=view.status if view.status != 200 else None,
    )


def durable_stream(view: EventStreamView) -> HttpResponseBase:
    """A durable ``EventStreamView``'s GET: a next link, a resume, or a first connection."""
    from .durable import get_sender
    from .http import set_hold

    request = view.request
    store = get_history()
    get_sender().sweep_once()  # a process's first durable request sends what a dead one left
    token = request.GET.get(NEXT_PARAM)
    if token is not None:
        # Pushpin recovering a gap, or checking after the link's timeout.
        name, replay = replay_stream(request, token)
        body, sent = _sse_replay(view, replay)
        response = view.as_response(body)
        set_hold(response, _stream_hold(view, Channel(name), sent))
        return response

    response = view.as_response(view.awaited(view.on_open()))
    if response.status_code not in (200, view.status):
        return response  # refused: no channels, no replay, no hold
    channels = view.get_channels()
    channel = _one_channel(view, channels)
    after = _client_id(request.META.get("HTTP_LAST_EVENT_ID"), "Last-Event-ID")
    if after is None:
        after = _client_id(request.GET.get(view.last_event_id_param), view.last_event_id_param)
    if after is None:
        sent, state = read_snapshot(view, channels)
        if state is None:
            # An event with an id and no data: EventSource keeps it as its lastEventId
            # without firing anything, so a client that reconnects before its first event
            # still sends Last-Event-ID and gets what was published while it was away.
            body = _id_only_event(sent)
        else:
            body = format_event(state, event=view.snapshot_event, id=str(sent))
    else:
        replay = store.read(channel.name, after)
        body, sent = _sse_replay(view, replay)
        if not replay.reset and view.caught_up_event:
            data = {"last_id": str(sent), "missed": len(replay.events)}
            body += format_event(data, event=view.caught_up_event)
    if body:
        response.content = response.content + body.encode()  # type: ignore[attr-defined]
    set_hold(response, _stream_hold(view, channel, sent))
    return response


def _id_only_event(event_id: int) -> str:
    """``id: N`` and a blank line: sets the client's last id, dispatches no event."""
    return f"id: {event_id}\n\n"


# --------------------------------------------------------------------- long-polling
def durable_poll(view: GripLongPollView, channels: tuple[Channel, ...]) -> HttpResponseBase:
    """A durable long-poll's answer: what was missed after ``?after=``, a reset,
    the snapshot (no ``?after=``, and :meth:`~GripView.get_snapshot` has one),
    or a hold from the last id the answer was built at.

    The hold carries ``prev-id``: an event published between reading the
    history and the proxy subscribing makes the proxy request this view
    again at once (its last id for the channel differs), instead of the
    client waiting for the timeout.
    """
    from .http import set_hold

    channel = _one_channel(view, channels)
    after = _client_id(view.request.GET.get(view.after_param), view.after_param)
    if after is None:
        after, state = read_snapshot(view, channels)
        if state is not None:
            return view.as_response(view.on_snapshot(state, after))
    else:
        replay = get_history().read(channel.name, after)
        if replay.reset:
            return view.as_response(view.on_missed([], replay.last_id, reset=True))
        if replay.events:
            missed = []
            for event in replay.events:
                body = event.formats().get("http-response", {}).get("body", "")
                missed.append({"id": str(event.id), "body": body})
            return view.as_response(view.on_missed(missed, replay.events[-1].id, reset=False))
    response = view.as_response(view.awaited(view.on_timeout()))
    held = (Channel(channel.name, prev_id=str(after), filters=channel.filters),)
    meta = view.get_subscription_meta() or None
    set_hold(response, make_hold("response", held, timeout=view.get_timeout(), meta=meta))
    return response


def missed_json(events: list[dict[str, str]], last_id: int, reset: bool) -> str:
    out: dict[str, Any] = {"last_id": str(last_id), "events": events}
    if reset:
        out["reset"] = True
    return json.dumps(out, separators=(",", ":"))


# --------------------------------------------------------------------- WebSockets
def first_messages(view: WebSocketView, channels: tuple[Channel, ...]) -> list[str]:
    """A durable socket's first messages (before it is accepted): what it missed
    after ``?last_id=``, a reset, or, on a first connection, the snapshot as
    ``{"id": "<V>", "event": snapshot_event, "data": state}``; then (but after a
    reset) the ``caught_up_event`` message with the last id they cover, so even
    a first connection learns where to resume from."""
    after = _client_id(view.request.GET.get(view.last_id_param), view.last_id_param)
    if after is None:
        from .views import GripView

        if type(view).get_snapshot is GripView.get_snapshot:
            if len(channels) != 1:
                return []  # nothing to resume from (resuming is a configuration error)
            return _caught_up(view, get_history().last_id(channels[0].name), 0)
        version, state = read_snapshot(view, channels)
        if state is None:
            return _caught_up(view, version, 0) if len(channels) == 1 else []
        snapshot = json.dumps(
            {"id": str(version), "event": view.snapshot_event, "data": state}, separators=(",", ":")
        )
        size = len(snapshot.encode())
        if size > ANSWER_MESSAGE_MAX:
            logger.error(
                "grip_views: %s's snapshot is %d bytes, over the %d a proxy carries in one "
                "WebSocket answer: sent a reset instead (serve the state over HTTP)",
                type(view).__name__,
                size,
                ANSWER_MESSAGE_MAX,
            )
            return [_reset(view, version), *_caught_up(view, version, 0)]
        return [snapshot, *_caught_up(view, version, 0)]
    channel = _one_channel(view, channels).name
    budget = view.replay_page_bytes
    # A message is at least a dozen bytes: no more rows than a page can hold.
    replay = get_history().read(channel, after, limit=max(1, budget // 12))
    if replay.reset:
        return [_reset(view, replay.last_id)]
    out: list[str] = []
    last, size, covered = after, 0, 0
    for event in replay.events:
        content = event.formats().get("ws-message", {}).get("content")
        if isinstance(content, str):
            length = len(content.encode())
            if length > ANSWER_MESSAGE_MAX:
                if out:  # this page ends before it; the next page starts with it
                    break
                # The proxy would drop the whole answer: a reset past it, then the rest.
                logger.error(
                    "grip_views: event %d of %r is %d bytes, over the %d a proxy carries in one "
                    "WebSocket answer: a resuming client gets a reset for it",
                    event.id,
                    channel,
                    length,
                    ANSWER_MESSAGE_MAX,
                )
                more = event.id < replay.last_id
                return [_reset(view, event.id), *_caught_up(view, event.id, covered + 1, more=more)]
            if out and size + length > budget:
                break
            size += length
            out.append(content)
        last, covered = event.id, covered + 1
    return out + _caught_up(view, last, covered, more=last < replay.last_id)


#: The longest message a durable socket is sent in an answer (a replay, a
#: snapshot): Pushpin 1.36 dropped a whole WebSocket answer holding one message
#: of 33,000 bytes and delivered one of 32,000 (live publishes carry more).
ANSWER_MESSAGE_MAX = 32_000


def _reset(view: WebSocketView, last_id: int) -> str:
    return json.dumps({"id": str(last_id), "event": view.reset_event}, separators=(",", ":"))


def _caught_up(view: WebSocketView, last_id: int, missed: int, *, more: bool = False) -> list[str]:
    if not view.caught_up_event:
        return []
    message: dict[str, Any] = {"id": str(last_id), "event": view.caught_up_event, "missed": missed}
    if more:
        message["more"] = True
    return [json.dumps(message, separators=(",", ":"))]
