"""Realtime Django REST framework views: streams, Server-Sent Events, long-polls, WebSockets.

Mix a class into an ``APIView``, a generic view or a viewset; DRF's own
habits stay intact::

    class TodoViewSet(PublishChangesMixin, EventStreamMixin, GripLongPollMixin, ModelViewSet):
        queryset = Todo.objects.all()
        serializer_class = TodoSerializer
        permission_classes = [IsAuthenticated]
        version_field = "version"

Laid out like DRF itself: :mod:`.renderers` (``EventStreamRenderer``),
:mod:`.parsers` (``WebSocketEventsParser``), :mod:`.mixins` (the holds and
change publishing), :mod:`.publishing` (``publish_data``,
``renderer_channel``), :mod:`.websocket` (``WebSocketAPIView``) and
:mod:`.presence` (``PresenceMembersAPIView``). This is
the only package of grip_views that imports DRF.
"""

try:
    import rest_framework  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "grip_views.rest_framework needs Django REST framework, which is not installed: "
        'pip install "grip-views[drf]"'
    ) from exc

from .mixins import (
    EventStreamMixin,
    GripLongPollMixin,
    GripMixin,
    GripStreamMixin,
    PublishChangesMixin,
)
from .parsers import WebSocketEventsParser
from .presence import PresenceMembersAPIView
from .publishing import publish_data, renderer_channel
from .renderers import EventStreamRenderer
from .websocket import JsonWebSocketAPIView, WebSocketAPIView

__all__ = [
    "EventStreamMixin",
    "EventStreamRenderer",
    "GripLongPollMixin",
    "GripMixin",
    "GripStreamMixin",
    "JsonWebSocketAPIView",
    "PresenceMembersAPIView",
    "PublishChangesMixin",
    "WebSocketAPIView",
    "WebSocketEventsParser",
    "publish_data",
    "renderer_channel",
]
