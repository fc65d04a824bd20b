"""Renderers for held clients: Server-Sent Events, and how a stream separates messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework.renderers import BaseRenderer, JSONRenderer

from ..protocol.sse import format_event

__all__ = ["EventStreamRenderer"]


class EventStreamRenderer(BaseRenderer):
    """Renders data as one Server-Sent Event whose ``data`` is the JSON of it.

    Listed by every grip mixin, so ``Accept: text/event-stream`` (what
    ``EventSource`` sends) or ``?format=event-stream`` is answered, not refused
    with 406. The event's name and id come from the renderer context keys
    ``sse_event`` and ``sse_id``.
    """

    media_type = "text/event-stream"
    format = "event-stream"
    charset = "utf-8"
    #: Renders the event's data.
    data_renderer_class: ClassVar[type[BaseRenderer]] = JSONRenderer
    #: What goes between two messages of a stream: events end themselves.
    stream_separator: ClassVar[bytes] = b""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        context = dict(renderer_context or {})
        renderer = self.data_renderer_class()
        text = renderer.render(data, renderer.media_type, context)
        if isinstance(text, bytes):
            text = text.decode(renderer.charset or "utf-8")
        return format_event(text, event=context.get("sse_event"), id=context.get("sse_id")).encode("utf-8")


def stream_separator(renderer: BaseRenderer) -> bytes:
    """What follows each message of a stream in ``renderer``'s format (a newline
    by default: a JSON stream is one document per line)."""
    return getattr(renderer, "stream_separator", b"\n")


def content_type(renderer: BaseRenderer) -> str:
    """The ``Content-Type`` DRF's ``Response`` sends for ``renderer``."""
    return f"{renderer.media_type}; charset={renderer.charset}" if renderer.charset else renderer.media_type


def render(renderer: BaseRenderer, data: Any, context: Mapping[str, Any]) -> bytes:
    """``data`` rendered by ``renderer``, as bytes."""
    out = renderer.render(data, renderer.media_type, dict(context))
    return out.encode(renderer.charset or "utf-8") if isinstance(out, str) else bytes(out)


def is_holdable(renderer: BaseRenderer) -> bool:
    """Whether a client may be held in ``renderer``'s format: HTML pages (the
    browsable API) and form encodings are not realtime representations."""
    media_type = renderer.media_type or ""
    return not media_type.startswith(("text/html", "multipart/"))
