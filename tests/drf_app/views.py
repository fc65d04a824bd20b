"""DRF views made realtime with grip_views.rest_framework."""

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from rest_framework import permissions, viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.generics import ListAPIView, ListCreateAPIView, RetrieveAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from grip_views.rest_framework import (
    EventStreamMixin,
    GripLongPollMixin,
    GripStreamMixin,
    JsonWebSocketAPIView,
    PublishChangesMixin,
)

from .models import ApiToken, Todo
from .serializers import TodoSerializer


class TokenAuth(TokenAuthentication):
    model = ApiToken


class Closed(BaseThrottle):
    """Refuses every request (as a throttle out of budget would)."""

    def allow_request(self, request, view):
        return False

    def wait(self):
        return 30


class DenyAll(permissions.BasePermission):
    message = "Nobody may read this."

    def has_permission(self, request, view):
        return False


class Pairs(PageNumberPagination):
    page_size = 2


class ApiMixin:
    authentication_classes: Sequence[type[BaseAuthentication]] = [TokenAuth]
    permission_classes: Sequence[Any] = [permissions.IsAuthenticated]
    renderer_classes: Sequence[type[BaseRenderer]] = [JSONRenderer]


class TodoViewSet(ApiMixin, PublishChangesMixin, EventStreamMixin, GripLongPollMixin, viewsets.ModelViewSet):
    """Todos: JSON as usual, an SSE stream with ``Accept: text/event-stream``,
    a long-poll with ``?after=<version>``; every change is published."""

    queryset = Todo.objects.order_by("id")
    serializer_class = TodoSerializer
    version_field = "version"
    timeout = 20

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)
        self.publish_change(serializer.instance, "created", serializer.data)


class ForgetfulTodoList(ApiMixin, PublishChangesMixin, ListCreateAPIView):
    """Saves in perform_create and forgets to publish: a warning says so."""

    queryset = Todo.objects.order_by("id")
    serializer_class = TodoSerializer

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)


class OwnTodoStream(ApiMixin, EventStreamMixin, RetrieveAPIView):
    """Only the owner of a todo may follow it."""

    queryset = Todo.objects.all()
    serializer_class = TodoSerializer

    def can_subscribe(self, channel):
        return Todo.objects.filter(pk=self.kwargs["pk"], owner=self.request.user).exists()


class ThrottledTodoList(ApiMixin, GripStreamMixin, ListAPIView):
    queryset = Todo.objects.all()
    serializer_class = TodoSerializer
    throttle_classes = [Closed]


class ForbiddenTodoList(ApiMixin, GripStreamMixin, ListAPIView):
    queryset = Todo.objects.all()
    serializer_class = TodoSerializer
    permission_classes = [DenyAll]


class PagedTodoList(ApiMixin, GripLongPollMixin, ListAPIView):
    pagination_class = Pairs
    queryset = Todo.objects.order_by("id")
    serializer_class = TodoSerializer
    version_field = "pk"


class Feed(ApiMixin, GripStreamMixin, APIView):
    """A plain APIView streamed as JSON lines on a fixed channel."""

    channels = ["drf-feed"]
    keep_alive = "\n"

    def get(self, request):
        return Response({"hello": request.user.username})

    def post(self, request):
        self.publish_data("drf-feed", {"said": request.data.get("text", "")})
        return Response(status=204)


class Inbox(ApiMixin, GripLongPollMixin, APIView):
    """A plain APIView long-poll: waits while the user's inbox is empty."""

    timeout = 30

    def channels_for(self):
        return [f"inbox-{self.request.user.pk}"]

    def get(self, request):
        return Response([] if request.query_params["after"] == "empty" else [{"msg": "hi"}])


class TodoSocket(JsonWebSocketAPIView):
    """Todo changes over a WebSocket, for authenticated users only."""

    authentication_classes = [TokenAuth, SessionAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    channels = ["drf_app.todo"]

    def on_message(self, message):
        # self.request.data parses the WebSocket-events body: no 415.
        self.send_json({"you": self.request.user.username, "events": len(self.request.data), "echo": message})


class DurableTodoViewSet(TodoViewSet):
    """Durable: a stream's first answer and a long-poll's are built at the version
    they hold from, and changes are published with ids (tests/test_snapshot.py)."""

    durable = True

    def list_channel(self):
        return "durable.todo"  # not the channel of TodoViewSet's non-durable publishes


class RacingTodoViewSet(DurableTodoViewSet):
    """Makes one change (``?race=<title>``, once per title) after its list query ran
    and before the proxy holds the answer: issue 17's lost long-poll change."""

    raced: set[str] = set()

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        title = request.query_params.get("race")
        if title and title not in self.raced:
            self.raced.add(title)
            with transaction.atomic():
                todo = Todo.objects.create(title=title)
                self.publish_change(todo, "created")
        return response


class DurableTodoSocket(TodoSocket):
    """A listener that stays subscribed to the durable list's JSON channel."""

    channels = ["durable.todo"]
