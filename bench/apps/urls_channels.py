"""HTTP side of the Channels server: health, and a publish endpoint, since an
in-memory channel layer can only be reached from inside the daphne process."""

from channels.layers import get_channel_layer
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


def health(request):
    return HttpResponse("ok\n", content_type="text/plain")


@csrf_exempt
async def publish(request, channel):
    await get_channel_layer().group_send(channel, {"type": "bench.message", "text": request.body.decode()})
    return HttpResponse("published\n", content_type="text/plain")


urlpatterns = [path("health/", health), path("publish/<str:channel>/", publish)]
