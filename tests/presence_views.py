"""Views with presence, for tests/test_presence.py and tests/e2e/test_presence_e2e.py."""

from __future__ import annotations

from rest_framework import permissions

from grip_views import (
    AsyncJsonWebSocketView,
    EventStreamView,
    GripStreamView,
    JsonWebSocketView,
    WebSocketView,
)
from grip_views.presence import PresenceMembersView, PresenceMixin
from grip_views.rest_framework import PresenceMembersAPIView


class RoomMixin:
    def channels_for(self):
        return [f"room-{self.kwargs['room']}"]

    def can_subscribe(self, channel):
        return not channel.name.endswith("-secret")


class RoomEvents(PresenceMixin, RoomMixin, EventStreamView):
    """An SSE room: logged-in users are members."""


class RoomStream(PresenceMixin, RoomMixin, GripStreamView):
    initial_body = "[open]\n"


class RoomSocket(PresenceMixin, RoomMixin, JsonWebSocketView):
    def on_message(self, message):
        self.send_json({"echo": message})


class GuestSocket(PresenceMixin, RoomMixin, WebSocketView):
    """Anonymous members named by ``?name=`` (tabs with one name are one member)."""

    def get_presence_info(self):
        name = self.request.GET.get("name")
        return {"id": name, "name": name} if name else None


class AsyncGuestSocket(PresenceMixin, RoomMixin, AsyncJsonWebSocketView):
    """Presence on an Async* view, with an ``async def`` hook."""

    async def get_presence_info(self):
        return {"id": self.request.GET["name"], "name": self.request.GET["name"]}


class RoomMembers(RoomMixin, PresenceMembersView):
    pass


class RoomMembersAPI(RoomMixin, PresenceMembersAPIView):
    """The members through DRF: logged-in users only."""

    permission_classes = [permissions.IsAuthenticated]
