"""The grip_views variant: class-based views, the library's hot path."""

from django.urls import path

from grip_views import GripLongPollView, GripStreamView, WebSocketView

STREAM_OPEN = "[stream open]\n"


class Stream(GripStreamView):
    initial_body = STREAM_OPEN

    def channels_for(self):
        return [self.kwargs["channel"]]


class Poll(GripLongPollView):
    timeout = 55

    def channels_for(self):
        return [self.kwargs["channel"]]


class Echo(WebSocketView):
    def channels_for(self):
        return [self.kwargs["channel"]]

    def on_message(self, message):
        self.send(message)


def patterns(name):
    return [
        path("stream/<str:channel>/", Stream.as_view()),
        path("poll/<str:channel>/", Poll.as_view()),
        path("ws/<str:channel>/", Echo.as_view()),
    ]
