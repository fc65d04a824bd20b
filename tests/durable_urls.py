"""Durable views for tests/test_durable.py (and the end-to-end resume tests)."""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.urls import include, path
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt

from grip_views import EventStreamView, GripLongPollView, JsonWebSocketView
from grip_views.durable import get_sender, publish_durable
from grip_views.history import get_history
from grip_views.protocol.sse import format_event
from tests.drf_app.models import Todo


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
    alike (one id sequence); answers its id once it is stored. ``count=N``: N events in
    one transaction (a batch: the sender sends them in one request to the proxy)."""
    data = request.POST["data"]
    count = int(request.POST.get("count", "1"))
    with transaction.atomic():
        for n in range(count):
            text = data if count == 1 else f"{data}.{n}"
            event_id = publish_durable(channel, {"sse": format_event(text), "ws": text})
    return HttpResponse(f"{event_id}\n")


# --------------------------------------------------------------------- snapshots
def notes(channel):
    """A board's state: its notes, oldest first (kept as Todo rows titled "<channel>:<text>")."""
    rows = Todo.objects.filter(title__startswith=f"{channel}:").order_by("pk")
    return [title.split(":", 1)[1] for title in rows.values_list("title", flat=True)]


def add_note(channel, text):
    """The change and its event in one transaction: a note, and its durable event for
    SSE, WebSocket and long-poll clients of the board (one id sequence). Its id."""
    with transaction.atomic():
        Todo.objects.create(title=f"{channel}:{text}")
        body = json.dumps({"note": text})
        lp = {"code": 200, "headers": {"Content-Type": "application/json"}, "body": body}
        return publish_durable(channel, {"sse": format_event(text, event="note"), "ws": text, "lp": lp})


class BoardMixin:
    """A board: its notes as the snapshot, then each new note."""

    durable = True

    def channels_for(self):
        return [self.kwargs["channel"]]

    def get_snapshot(self):
        return notes(self.kwargs["channel"])


@method_decorator(csrf_exempt, name="dispatch")
class BoardEvents(BoardMixin, EventStreamView):
    def post(self, request, channel):
        return HttpResponse(f"{add_note(channel, request.POST['data'])}\n")


class RacingBoardEvents(BoardEvents):
    """Adds a note inside its snapshot hook, after reading the state (once per channel):
    the change falls between the state and the hold, and must reach the client."""

    raced: set[str] = set()

    def get_snapshot(self):
        state = super().get_snapshot()
        channel = self.kwargs["channel"]
        if channel not in self.raced:
            self.raced.add(channel)
            add_note(channel, "raced")
        return state


class BoardPoll(BoardMixin, GripLongPollView):
    timeout = 5


class BoardSocket(BoardMixin, JsonWebSocketView):
    pass


@csrf_exempt
def api_token(request, name):
    """POST: a user ``name`` with an API token for tests/drf_app's views; its header value."""
    from django.contrib.auth.models import User

    from tests.drf_app.models import ApiToken

    user = User.objects.create(username=name)
    ApiToken.objects.create(key=f"token-{name}", user=user)
    return HttpResponse(f"Token token-{name}")


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
    path("api-token/<str:name>/", api_token),
    path("api/", include("tests.drf_app.urls")),
    path("board/<str:channel>/", BoardEvents.as_view()),
    path("racing-board/<str:channel>/", RacingBoardEvents.as_view()),
    path("board-poll/<str:channel>/", BoardPoll.as_view()),
    path("board-ws/<str:channel>/", BoardSocket.as_view()),
]
