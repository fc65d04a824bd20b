"""The grip_views 0.1 variant (git 9ac32e6): the bench views in the 0.1 API.

0.1's hooks took the request and the URL arguments,
``channels_for(self, request, *args, **kwargs)``, and any hook written
``async def`` made the view async under ASGI (no ``Async*`` classes). Only
the bench's worker for the 0.1 tree imports this module (see
bench/inproc_worker.py); it does the same jobs as views_gv.py and
views_gv_async.py.
"""

from django.urls import path

from grip_views import GripLongPollView, GripStreamView, WebSocketView

STREAM_OPEN = "[stream open]\n"


class Stream(GripStreamView):
    initial_body = STREAM_OPEN

    def channels_for(self, request, *args, **kwargs):
        return [kwargs["channel"]]


class Poll(GripLongPollView):
    timeout = 55

    def channels_for(self, request, *args, **kwargs):
        return [kwargs["channel"]]


class Echo(WebSocketView):
    def channels_for(self, request, *args, **kwargs):
        return [kwargs["channel"]]

    def on_message(self, request, message, *args, **kwargs):
        self.send(message)


class AsyncStream(GripStreamView):
    initial_body = STREAM_OPEN

    async def channels_for(self, request, *args, **kwargs):
        return [kwargs["channel"]]


class AsyncPoll(GripLongPollView):
    timeout = 55

    async def channels_for(self, request, *args, **kwargs):
        return [kwargs["channel"]]


class AsyncEcho(WebSocketView):
    async def channels_for(self, request, *args, **kwargs):
        return [kwargs["channel"]]

    async def on_message(self, request, message, *args, **kwargs):
        self.send(message)


def patterns(name):
    if name.endswith("a"):  # gv01a: async def hooks
        return [
            path("stream/<str:channel>/", AsyncStream.as_view()),
            path("poll/<str:channel>/", AsyncPoll.as_view()),
            path("ws/<str:channel>/", AsyncEcho.as_view()),
        ]
    return [
        path("stream/<str:channel>/", Stream.as_view()),
        path("poll/<str:channel>/", Poll.as_view()),
        path("ws/<str:channel>/", Echo.as_view()),
    ]
