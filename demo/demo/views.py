"""The two examples of django-grip's README, as class-based views, and a live page."""

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from grip_views import EventStreamView, GripStreamView, WebSocketView


@method_decorator(csrf_exempt, name="dispatch")  # the POST is an API call (curl)
class StreamView(GripStreamView):
    """GET holds an HTTP stream on channel "test"; POST appends `data` to it."""

    channels = ["test"]
    initial_body = "[stream open]\n"

    def post(self, request):
        self.publish("test", request.POST["data"] + "\n")
        return HttpResponse("Ok\n")


class EchoView(WebSocketView):
    """A WebSocket echo service; every socket also hears channel "test"."""

    channels = ["test"]

    def on_message(self, message):
        self.send(message)


@csrf_exempt
@require_POST
def broadcast(request):
    """Send `data` to every socket on /echo/."""
    EchoView.publish("test", request.POST["data"])
    return HttpResponse("Ok\n")


@method_decorator(csrf_exempt, name="dispatch")
class EventsView(EventStreamView):
    """Server-Sent Events for the live page; POST `data` sends an event."""

    channels = ["events"]

    def post(self, request):
        self.publish_event("events", request.POST["data"], event="message")
        return HttpResponse("Ok\n")


class LivePage(TemplateView):
    template_name = "demo/live.html"
