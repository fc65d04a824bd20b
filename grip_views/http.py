"""Where views and the middleware meet: ``request.grip`` and a response's hold.

The middleware sets :class:`GripInfo` on each request; a view (or a function
view through :func:`set_hold`) leaves a :class:`~grip_views.Hold` on its
response, and the middleware writes it as ``Grip-*`` headers on the way out.
Neither imports the other.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBase

from .exceptions import InvalidChannel, RejectConnection
from .protocol.instructions import Hold
from .protocol.websocket import WebSocketContext

__all__ = ["GripInfo", "get_hold", "refusal_response", "set_hold", "text_response"]

_HOLD_ATTRIBUTE = "grip_hold"


class GripInfo:
    """What the middleware learnt about a request, as ``request.grip``.

    ``proxied``: it came through a GRIP proxy (with a valid signature whenever
    a key is configured). ``signed``: its ``Grip-Sig`` verified. ``features``
    and ``last`` (``{channel: last id}``) come from the proxy's headers and are
    empty on direct requests. ``websocket`` is the connection context of a
    WebSocket-over-HTTP request, else ``None``.
    """

    __slots__ = ("features", "last", "proxied", "signed", "websocket")

    def __init__(
        self,
        proxied: bool = False,
        signed: bool = False,
        features: frozenset[str] = frozenset(),
        last: dict[str, str] | None = None,
        websocket: WebSocketContext | None = None,
    ) -> None:
        # A plain class, not a dataclass: one is built for every request.
        self.proxied = proxied
        self.signed = signed
        self.features = features
        self.last: dict[str, str] = {} if last is None else last
        self.websocket = websocket

    def __repr__(self) -> str:
        return (
            f"GripInfo(proxied={self.proxied}, signed={self.signed}, features={set(self.features)}, "
            f"last={self.last}, websocket={self.websocket!r})"
        )


def set_hold(response: HttpResponseBase, hold: Hold) -> HttpResponseBase:
    """Ask the middleware to hold ``response`` on the proxy (for function views too)."""
    setattr(response, _HOLD_ATTRIBUTE, hold)
    return response


def get_hold(response: HttpResponseBase) -> Hold | None:
    """The hold a view left on ``response``, if any."""
    return getattr(response, _HOLD_ATTRIBUTE, None)


def text_response(status: int, message: str) -> HttpResponse:
    """A one-line plain-text answer: every error grip_views itself gives."""
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def refusal_response(exc: RejectConnection | PermissionDenied | InvalidChannel) -> HttpResponse:
    """The answer to a refused client: ``self.reject()`` / ``RejectConnection``
    (its status and reason), ``PermissionDenied`` (403) or a name that cannot
    be a channel (400). For a WebSocket, the proxy relays it as a refused handshake."""
    if isinstance(exc, RejectConnection):
        return text_response(exc.status, exc.reason or "Refused.")
    if isinstance(exc, PermissionDenied):
        return text_response(403, str(exc) or "Permission denied.")
    return text_response(400, str(exc))
