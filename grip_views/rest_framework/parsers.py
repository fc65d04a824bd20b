"""A parser for WebSocket-over-HTTP bodies, so ``request.data`` is never a 415."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import BaseParser

from ..exceptions import ProtocolError
from ..protocol.websocket import CONTENT_TYPE, decode_events

__all__ = ["WebSocketEventsParser"]


class WebSocketEventsParser(BaseParser):
    """Parses a WebSocket-over-HTTP body into its list of events.

    Without it, anything touching ``request.data`` on a WebSocket request
    (a permission class, a throttle, your hook) would get DRF's 415.
    """

    media_type = CONTENT_TYPE

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        request = (parser_context or {}).get("request")
        ctx = getattr(request, "grip", None)
        if ctx is not None and ctx.websocket is not None:
            return list(ctx.websocket.events)
        try:
            return decode_events(stream.read() if stream is not None else b"")
        except ProtocolError as exc:
            raise exceptions.ParseError(f"Malformed WebSocket-events body: {exc}")
