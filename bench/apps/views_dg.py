"""The django-grip 3.5.2 variant: the same three jobs as function views."""

from django.http import HttpResponse
from django.urls import path
from django_grip import set_hold_longpoll, set_hold_stream, websocket_only

STREAM_OPEN = "[stream open]\n"


def stream(request, channel):
    set_hold_stream(request, channel)
    return HttpResponse(STREAM_OPEN, content_type="text/plain")


def poll(request, channel):
    set_hold_longpoll(request, channel, timeout=55)
    return HttpResponse(b"", content_type="text/plain")


@websocket_only
def echo(request, channel):
    ws = request.wscontext
    if ws.is_opening():
        ws.accept()
        ws.subscribe(channel)
    while ws.can_recv():
        message = ws.recv()
        if message is None:
            ws.close()
            break
        ws.send(message)
    return HttpResponse()


def patterns(name):
    return [
        path("stream/<str:channel>/", stream),
        path("poll/<str:channel>/", poll),
        path("ws/<str:channel>/", echo),
    ]
