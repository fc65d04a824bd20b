"""Resuming from the last id: what durable views answer a client that comes back.

* ``EventStreamView`` (``durable = True``): ``Last-Event-ID`` (the header, or
  ``?last_event_id=`` on a first connection) gets every missed event in the
  first body, then a reliable hold: ``prev-id`` is the last id sent, and a
  signed next link that Pushpin fetches (with ``Grip-Last``) when it sees a gap.
* ``GripLongPollView``: ``?after=<id>`` is answered at once with what was missed.
* ``WebSocketView``: ``?last_id=<id>`` on connect; the missed messages are sent
  in the answer to the handshake, before anything live.

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
from django.http import HttpResponseBase

from .exceptions import RejectConnection
from .history import Replay, get_history, parse_event_id
from .protocol.instructions import Channel, make_hold
from .protocol.sse import format_event

if TYPE_CHECKING:
    from .views import EventStreamView, GripLongPollView, WebSocketView

__all__ = ["NEXT_PARAM", "next_link_for", "read_next_token"]

logger = logging.getLogger(__name__)

#: The query parameter of a durable stream's next link.
NEXT_PARAM = "grip_next"
_SALT = "grip_views.resume.next-link"
#: Seconds a next link stays valid; Pushpin gets a fresh one with each answer.
NEXT_LINK_MAX_AGE = 3600


def next_link_for(path: str, channel: str) -> str:
    token = signing.dumps({"p": path, "c": channel}, salt=_SALT, compress=True)
    return f"{quote(path)}?{NEXT_PARAM}={quote(token)}"


def read_next_token(token: str, path: str) -> str:
    """The channel a next link was made for; raises RejectConnection (403) if forged or stale."""
    try:
        value = signing.loads(token, salt=_SALT, max_age=NEXT_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise RejectConnection("This next link has expired.", status=403) from None
    except signing.BadSignature:
        raise RejectConnection("This next link was not made by this app.", status=403) from None
    if not isinstance(value, dict) or value.get("p") != path or not isinstance(value.get("c"), str):
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


# --------------------------------------------------------------------- Server-Sent Events
def _sse_replay(view: EventStreamView, replay: Replay) -> tuple[str, int]:
    """The missed events as SSE text, and the last id it covers."""
    if replay.reset:
        logger.info(
            "grip_views: %s: last id %d of %r is not in the history (last %d): reset",
            type(view).__qualname__,
            replay.after,
            replay.channel,
            replay.last_id,
        )
        data = {"last_id": str(replay.last_id), "reason": "events since your last id are no longer kept"}
        return format_event(data, event=view.reset_event, id=str(replay.last_id)), replay.last_id
    parts = [event.formats().get("http-stream", {}).get("content", "") for event in replay.events]
    last = replay.events[-1].id if replay.events else replay.after
    return "".join(parts), last


def _stream_hold(view: EventStreamView, channel: str, prev_id: int) -> Any:
    timeout = view.next_link_timeout if view.next_link_timeout is not None else view.resume_link_timeout
    return make_hold(
        "stream",
        (Channel(channel, prev_id=str(prev_id)),),
        keep_alive=view.get_keep_alive(),
        keep_alive_interval=view.keep_alive_interval,
        next_link=next_link_for(view.request.path, channel),
        next_link_timeout=timeout,
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
        channel = read_next_token(token, request.path)
        last = view.grip.last.get(channel)
        after = _client_id(last, "Grip-Last's last-id") if last is not None else None
        if after is None:
            raise RejectConnection(
                "A next link request needs Grip-Last with the channel's last-id.", status=400
            )
        body, sent = _sse_replay(view, store.read(channel, after))
        response = view.as_response(body)
        set_hold(response, _stream_hold(view, channel, sent))
        return response

    response = view.as_response(view.awaited(view.on_open()))
    if response.status_code not in (200, view.status):
        return response  # refused: no channels, no replay, no hold
    channel = _one_channel(view, view.get_channels()).name
    after = _client_id(request.META.get("HTTP_LAST_EVENT_ID"), "Last-Event-ID")
    if after is None:
        after = _client_id(request.GET.get(view.last_event_id_param), view.last_event_id_param)
    if after is None:
        # An event with an id and no data: EventSource keeps it as its lastEventId
        # without firing anything, so a client that reconnects before its first event
        # still sends Last-Event-ID and gets what was published while it was away.
        sent = store.last_id(channel)
        body = _id_only_event(sent)
    else:
        body, sent = _sse_replay(view, store.read(channel, after))
    if body:
        response.content = response.content + body.encode()  # type: ignore[attr-defined]
    set_hold(response, _stream_hold(view, channel, sent))
    return response


def _id_only_event(event_id: int) -> str:
    """``id: N`` and a blank line: sets the client's last id, dispatches no event."""
    return f"id: {event_id}\n\n"


# --------------------------------------------------------------------- long-polling
def missed_poll(view: GripLongPollView, channels: tuple[Channel, ...]) -> Any:
    """A durable long-poll's answer to ``?after=``: what was missed, a reset, or None (hold)."""
    after = _client_id(view.request.GET.get(view.after_param), view.after_param)
    if after is None:
        return None
    channel = _one_channel(view, channels).name
    replay = get_history().read(channel, after)
    if replay.reset:
        return view.on_missed([], replay.last_id, reset=True)
    if not replay.events:
        return None
    missed = []
    for event in replay.events:
        body = event.formats().get("http-response", {}).get("body", "")
        missed.append({"id": str(event.id), "body": body})
    return view.on_missed(missed, replay.events[-1].id, reset=False)


def missed_json(events: list[dict[str, str]], last_id: int, reset: bool) -> str:
    out: dict[str, Any] = {"last_id": str(last_id), "events": events}
    if reset:
        out["reset"] = True
    return json.dumps(out, separators=(",", ":"))


# --------------------------------------------------------------------- WebSockets
def missed_messages(view: WebSocketView, channels: tuple[Channel, ...]) -> list[str]:
    """A durable socket's missed messages for ``?last_id=`` (before it is accepted)."""
    after = _client_id(view.request.GET.get(view.last_id_param), view.last_id_param)
    if after is None:
        return []
    channel = _one_channel(view, channels).name
    replay = get_history().read(channel, after)
    if replay.reset:
        reset = {"id": str(replay.last_id), "event": view.reset_event}
        return [json.dumps(reset, separators=(",", ":"))]
    out = []
    for event in replay.events:
        content = event.formats().get("ws-message", {}).get("content")
        if isinstance(content, str):
            out.append(content)
    return out
