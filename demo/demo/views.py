"""The two examples of django-grip's README, as class-based views."""

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from grip_views import GripStreamView, WebSocketView

from .forms import field_error


@method_decorator(csrf_exempt, name="dispatch")  # the POST is an API call (curl)
class StreamView(GripStreamView):
    """GET holds an HTTP stream on channel "test"; POST appends `data` to it."""

    channels = ["test"]
    initial_body = "[stream open]\n"

    def post(self, request):
        if error := field_error(request, "data"):
            return error
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
    """POST `data`: send it to every socket on /echo/."""
    if error := field_error(request, "data"):
        return error
    EchoView.publish("test", request.POST["data"])
    return HttpResponse("Ok\n")
