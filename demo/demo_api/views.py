"""One viewset, three ways to follow it live, DRF's checks intact.

- ``GET /api/todos/`` with ``Accept: text/event-stream`` (an ``EventSource``):
  the list as a first event, then ``created``/``updated``/``deleted`` events.
- ``GET /api/todos/?after=<version>``: the todos changed since that version,
  or, when there is none, a long-poll answered by the next change.
- ``GET /api/todos/<id>/?after=<version>``: the same for one todo.

Anyone may read and follow; changing needs a login (``demo``/``demo``, made
by the migrations). Changes are published after their transaction commits.
"""

from rest_framework import permissions, viewsets
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.parsers import JSONParser

from grip_views.rest_framework import EventStreamMixin, GripLongPollMixin, PublishChangesMixin

from .models import Todo
from .serializers import TodoSerializer


class TodoViewSet(PublishChangesMixin, EventStreamMixin, GripLongPollMixin, viewsets.ModelViewSet):
    queryset = Todo.objects.select_related("author")
    serializer_class = TodoSerializer
    authentication_classes = [SessionAuthentication, BasicAuthentication]
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]
    # JSON only: a body that is not UTF-8 is a 400, where the form parsers would read it as U+FFFD.
    parser_classes = [JSONParser]
    version_field = "version"  # what ?after=<version> compares with
    durable = True  # first answers built at a version and held from it; changes published with ids

    def perform_create(self, serializer):
        # Saves with the author instead of calling super(), so it publishes the change itself.
        serializer.save(author=self.request.user)
        self.publish_change(serializer.instance, "created", serializer.data)
