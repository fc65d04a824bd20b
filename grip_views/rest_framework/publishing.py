"""Publishing serialized data to held DRF clients, once per representation.

Each representation is held and published per renderer: JSON on the channel
itself, any other renderer on ``"<channel>@<format>"`` (see
:func:`renderer_channel`), so a JSON long-poll and an ``EventSource`` on the
same channel each get their own bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gripcontrol import HttpResponseFormat, HttpStreamFormat
from rest_framework.renderers import BaseRenderer, JSONRenderer

from ..protocol.instructions import Channel, ChannelLike, as_channel
from ..publishing import publish
from .renderers import EventStreamRenderer, content_type, render, stream_separator

__all__ = ["publish_data", "renderer_channel"]


def renderer_channel(channel: ChannelLike, renderer: BaseRenderer) -> Channel:
    """The channel that carries ``channel``'s messages rendered by ``renderer``.

    JSON (format ``"json"``) uses the channel itself, so a plain
    :func:`grip_views.publish` of JSON reaches JSON clients; any other format
    gets ``"<channel>@<format>"`` (``"todos@event-stream"``).
    """
    ch = as_channel(channel)
    fmt = getattr(renderer, "format", None) or "json"
    if fmt == "json":
        return ch
    return Channel(f"{ch.name}@{fmt}", ch.prev_id, ch.filters)


_SAME: Any = object()


def publish_data(
    channel: ChannelLike,
    data: Any,
    *,
    renderers: Sequence[BaseRenderer] | None = None,
    event: str | None = None,
    response: Any = _SAME,
    status: int = 200,
    renderer_context: Mapping[str, Any] | None = None,
    **options: Any,
) -> None:
    """Publish ``data`` (already serialized) on ``channel``, once per renderer.

    Streams held on the channel get ``data`` as one message (an SSE event
    named ``event`` for :class:`EventStreamRenderer`); long-polls held on it
    are answered with ``response`` (``data`` by default; ``None`` leaves them
    waiting) and ``status``. ``renderers`` defaults to JSON and SSE.
    ``options`` go to :func:`grip_views.publish` (``on_commit``, ``blocking``,
    ``id``, ``prev_id``, ``meta``, ``durable``).

    Everything is rendered now, in the caller; with ``on_commit=True`` it is
    sent after the transaction commits and dropped if it rolls back. With
    ``durable=True`` each rendering is one event of its channel's history,
    stored in the current transaction: an SSE event then carries its id, a
    long-poll answer an ``Event-Id`` header.
    """
    if renderers is None:
        renderers = [JSONRenderer(), EventStreamRenderer()]
    if response is _SAME:
        response = data
    durable = options.get("durable", False)
    for renderer in renderers:
        context = {**(renderer_context or {}), "sse_event": event}
        stream = render(renderer, data, context) + stream_separator(renderer)
        body = None if response is None else render(renderer, response, {**context, "sse_event": None})
        target = renderer_channel(channel, renderer)
        charset = _text_charset(renderer)
        if durable and charset is not None:
            _publish_durable(target, renderer, charset, stream, body, status, options)
            continue
        formats: list[Any] = [HttpStreamFormat(stream)]
        if body is not None:
            formats.append(
                HttpResponseFormat(code=status, headers={"Content-Type": content_type(renderer)}, body=body)
            )
        publish(target, formats, **options)


def _text_charset(renderer: BaseRenderer) -> str | None:
    """How ``renderer``'s output decodes to text (JSON is UTF-8), or None for binary."""
    return renderer.charset or ("utf-8" if isinstance(renderer, JSONRenderer) else None)


def _publish_durable(
    channel: Channel,
    renderer: BaseRenderer,
    charset: str,
    stream: bytes,
    body: bytes | None,
    status: int,
    options: Mapping[str, Any],
) -> None:
    """One durable event of a text renderer's representations (see
    :mod:`grip_views.history.base` for the payload): SSE without its id, which
    the history puts first when it sends it; a long-poll answer with ``Event-Id``."""
    from ..durable import publish_durable

    unexpected = set(options) - {"durable", "meta", "using", "on_commit", "blocking"}
    if unexpected:
        raise TypeError(f"unexpected options for a durable publish: {', '.join(sorted(unexpected))}")
    payload: dict[str, Any] = {}
    if isinstance(renderer, EventStreamRenderer):
        payload["sse"] = stream.decode(charset)
    else:
        payload["formats"] = {"http-stream": {"content": stream.decode(charset)}}
    if body is not None:
        headers = {"Content-Type": content_type(renderer)}
        payload["lp"] = {"code": status, "headers": headers, "body": body.decode(charset)}
    meta = options.get("meta")
    if meta:
        payload["meta"] = dict(meta)
    publish_durable(channel, payload, using=options.get("using"))
