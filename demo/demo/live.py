"""The live page, and the events it shows over Server-Sent Events and a WebSocket."""

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from grip_views import EventStreamView, WebSocketView
from grip_views.durable import publish_durable
from grip_views.protocol.sse import format_event

from .forms import field_error


class LivePage(TemplateView):
    """An EventSource on /events/, a GripSocket on /events/ws/ and a WebSocket on /echo/."""

    template_name = "demo/live.html"


@method_decorator(csrf_exempt, name="dispatch")  # the POST is an API call (curl)
class EventsView(EventStreamView):
    """Server-Sent Events for the live page; POST `data` sends an event.

    Durable: an event is stored (with an id) before the POST is answered, and a
    client that comes back with Last-Event-ID gets what it missed first, then a
    "caught-up" event saying how many that was.
    """

    channels = ["events"]
    durable = True
    retry = 1000  # ms: the browser reconnects a second after a drop

    def post(self, request):
        if error := field_error(request, "data"):
            return error
        data = request.POST["data"]
        # One event, one id, for the page's EventSource and its WebSocket alike.
        event_id = publish_durable("events", {"sse": format_event(data, event="message"), "ws": data})
        return HttpResponse(f"Ok: event {event_id}\n")


class EventsSocket(WebSocketView):
    """The same events over a WebSocket: ``?last_id=`` resumes (grip-socket.js sends it)."""

    channels = ["events"]
    durable = True
