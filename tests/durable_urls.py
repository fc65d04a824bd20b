"""Durable views for tests/test_durable.py (and the end-to-end resume tests)."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt

from grip_views import EventStreamView, GripLongPollView, JsonWebSocketView
from grip_views.durable import get_sender, publish_durable
from grip_views.history import get_history
from grip_views.protocol.sse import format_event


@method_decorator(csrf_exempt, name="dispatch")
class Events(EventStreamView):
    durable = True

    def channels_for(self):
        return [self.kwargs["channel"]]

    def can_subscribe(self, channel):
        return not channel.name.startswith("secret")

    def post(self, request, channel):
        data = request.POST.get("data")
        if not data:
            return HttpResponse("data is required\n", status=400)
        event_id = self.publish_event(channel, data)
        return HttpResponse(f"{event_id}\n")


class Poll(GripLongPollView):
    durable = True
    timeout = 5

    def channels_for(self):
        return [self.kwargs["channel"]]


class Socket(JsonWebSocketView):
    durable = True

    def channels_for(self):
        return [self.kwargs["channel"]]


class Room(Socket):
    """Says each message to everyone in the room but the sender, durably."""

    skip_self = True

    def on_message(self, message):
        self.broadcast(message, include_self=False)


@csrf_exempt
def publish_both(request, channel):
    """POST ``data``: one durable event on ``channel`` for its SSE and WebSocket clients
    alike (one id sequence); answers its id once it is stored."""
    data = request.POST["data"]
    event_id = publish_durable(channel, {"sse": format_event(data), "ws": data})
    return HttpResponse(f"{event_id}\n")


def outbox_state(request):
    """What this process has not sent yet (the end-to-end tests wait for nothing unsent)."""
    return JsonResponse({"unsent": get_history().unsent_channels(), "retrying": get_sender().pending()})


urlpatterns = [
    path("events/<str:channel>/", Events.as_view()),
    path("poll/<str:channel>/", Poll.as_view()),
    path("ws/<str:channel>/", Socket.as_view()),
    path("room/<str:channel>/", Room.as_view()),
    path("both/<str:channel>/", publish_both),
    path("outbox/", outbox_state),
]
