"""The live page, and the Server-Sent Events it shows."""

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from grip_views import EventStreamView

from .forms import field_error


class LivePage(TemplateView):
    """An EventSource on /events/ and a WebSocket on /echo/, in one page."""

    template_name = "demo/live.html"


@method_decorator(csrf_exempt, name="dispatch")  # the POST is an API call (curl)
class EventsView(EventStreamView):
    """Server-Sent Events for the live page; POST `data` sends an event.

    Durable: an event is stored (with an id) before the POST is answered, and a
    client that comes back with Last-Event-ID gets what it missed first.
    """

    channels = ["events"]
    durable = True

    def post(self, request):
        if error := field_error(request, "data"):
            return error
        event_id = self.publish_event("events", request.POST["data"], event="message")
        return HttpResponse(f"Ok: event {event_id}\n")
