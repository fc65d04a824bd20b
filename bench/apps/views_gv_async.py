"""The grip_views views of views_gv.py as ``Async*`` views, for ASGI.

``gva`` (and ``gv01a`` for a base tree with this API): the same hooks
written ``async def`` (what async hooks cost). ``gvs``: the same sync hooks
on the ``Async*`` classes (what the async class alone costs: one hop to
Django's sync thread per request).
"""

from django.urls import path

from bench.apps import views_gv
from grip_views import AsyncGripLongPollView, AsyncGripStreamView, AsyncWebSocketView
from grip_views.views import AsyncHooksMixin

STREAM_OPEN = views_gv.STREAM_OPEN


class AsyncStream(AsyncGripStreamView):
    initial_body = STREAM_OPEN

    async def channels_for(self):
        return [self.kwargs["channel"]]


class AsyncPoll(AsyncGripLongPollView):
    timeout = 55

    async def channels_for(self):
        return [self.kwargs["channel"]]


class AsyncEcho(AsyncWebSocketView):
    async def channels_for(self):
        return [self.kwargs["channel"]]

    async def on_message(self, message):
        self.send(message)


class SyncHooksStream(AsyncHooksMixin, views_gv.Stream):
    pass


class SyncHooksPoll(AsyncHooksMixin, views_gv.Poll):
    pass


class SyncHooksEcho(AsyncHooksMixin, views_gv.Echo):
    pass


def patterns(name):
    if name.endswith("a"):
        views = (AsyncStream, AsyncPoll, AsyncEcho)
    else:
        views = (SyncHooksStream, SyncHooksPoll, SyncHooksEcho)
    return [
        path("stream/<str:channel>/", views[0].as_view()),
        path("poll/<str:channel>/", views[1].as_view()),
        path("ws/<str:channel>/", views[2].as_view()),
    ]
