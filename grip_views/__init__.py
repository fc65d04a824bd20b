"""grip_views: realtime Django class-based views behind a GRIP proxy (Pushpin, Fastly Fanout).

Streams, Server-Sent Events, long-polls and WebSockets are held by the proxy;
the app answers short requests and publishes messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = [
    "AsyncEventStreamView",
    "AsyncGripLongPollView",
    "AsyncGripStreamView",
    "AsyncJsonWebSocketView",
    "AsyncWebSocketView",
    "Channel",
    "ChannelDenied",
    "EventStreamView",
    "GripError",
    "GripLongPollView",
    "GripStreamView",
    "GripView",
    "Hold",
    "JsonWebSocketView",
    "PublishError",
    "RejectConnection",
    "WebSocketView",
    "flush",
    "format_event",
    "get_publisher",
    "publish",
    "set_hold",
]

# Imported on first use, so that importing grip_views needs no settings and
# builds nothing (no publisher, thread or socket).
_LAZY = {
    "Channel": ".protocol.instructions",
    "Hold": ".protocol.instructions",
    "GripError": ".exceptions",
    "PublishError": ".exceptions",
    "RejectConnection": ".exceptions",
    "ChannelDenied": ".exceptions",
    "AsyncEventStreamView": ".views",
    "AsyncGripLongPollView": ".views",
    "AsyncGripStreamView": ".views",
    "AsyncJsonWebSocketView": ".views",
    "AsyncWebSocketView": ".views",
    "EventStreamView": ".views",
    "GripLongPollView": ".views",
    "GripStreamView": ".views",
    "GripView": ".views",
    "JsonWebSocketView": ".views",
    "WebSocketView": ".views",
    "flush": ".publishing",
    "get_publisher": ".publishing",
    "publish": ".publishing",
    "format_event": ".protocol.sse",
    "set_hold": ".http",
}

if TYPE_CHECKING:
    from .exceptions import ChannelDenied, GripError, PublishError, RejectConnection
    from .http import set_hold
    from .protocol.instructions import Channel, Hold
    from .protocol.sse import format_event
    from .publishing import flush, get_publisher, publish
    from .views import (
        AsyncEventStreamView,
        AsyncGripLongPollView,
        AsyncGripStreamView,
        AsyncJsonWebSocketView,
        AsyncWebSocketView,
        EventStreamView,
        GripLongPollView,
        GripStreamView,
        GripView,
        JsonWebSocketView,
        WebSocketView,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'grip_views' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
