"""WebSocket views behind DRF's authentication, permissions and throttles."""

from __future__ import annotations

from django.http import HttpResponseBase
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from ..exceptions import InvalidChannel, RejectConnection
from ..http import refusal_response
from ..views import JsonWebSocketView, WebSocketView
from .parsers import WebSocketEventsParser
from .renderers import is_holdable

__all__ = ["JsonWebSocketAPIView", "WebSocketAPIView"]


class _APIWebSocketMixin:
    """What a WebSocket view needs from DRF: a parser for its bodies, no HTML."""

    def get_parsers(self) -> list[BaseParser]:
        return [WebSocketEventsParser(), *super().get_parsers()]  # type: ignore[misc]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # The proxy asks for application/websocket-events, which no renderer
        # offers: a refusal is rendered by the first renderer rather than a 406.
        return super().perform_content_negotiation(request, force=True)  # type: ignore[misc, no-any-return]

    def get_renderers(self) -> list[BaseRenderer]:
        # Refusals are read by the proxy, not shown in a browser: never render HTML.
        renderers = [r for r in super().get_renderers() if is_holdable(r)]  # type: ignore[misc]
        return renderers or [JSONRenderer()]

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        # A refusal from the hooks (self.reject(), a denied channel, the origin
        # check) is answered as the plain views answer it; the rest is DRF's.
        if isinstance(exc, (RejectConnection, InvalidChannel)):
            return refusal_response(exc)
        return super().handle_exception(exc)  # type: ignore[misc, no-any-return]


class WebSocketAPIView(_APIWebSocketMixin, APIView, WebSocketView):  # type: ignore[misc]
    """A :class:`~grip_views.WebSocketView` behind DRF's authentication,
    permissions and throttles.

    Each WebSocket-over-HTTP request (the opening one and every batch of
    messages) passes ``initial()`` first: a client that fails gets DRF's
    401/403/429, which the proxy relays as a refused handshake, so it is never
    accepted nor subscribed. ``self.request`` is DRF's ``Request``
    (``request.user``), and ``request.data`` is the list of events, not a 415.
    """


class JsonWebSocketAPIView(_APIWebSocketMixin, APIView, JsonWebSocketView):  # type: ignore[misc]
    """:class:`WebSocketAPIView` whose messages are JSON (see :class:`~grip_views.JsonWebSocketView`)."""
