"""The floor variant: what the architecture alone costs, with no GRIP work.

A Django class-based view writing the plain view's headers and body, behind a
middleware that does nothing: grip_views' shape (a middleware plus a
``View`` subclass) with none of its checks. Against ``plain`` it shows what
the shape costs; against django-grip, how low any class-based view with a
middleware can go (the "every case <= 0.5x django-grip" target).
"""

from django.urls import path
from django.views import View

from bench.apps import views_plain


def noop_middleware(get_response):
    def middleware(request):
        return get_response(request)

    return middleware


class Stream(View):
    def get(self, request, channel):
        return views_plain.stream(request, channel)


class Poll(View):
    def get(self, request, channel):
        return views_plain.poll(request, channel)


class Echo(View):
    def post(self, request, channel):
        return views_plain.echo(request, channel)


def patterns(name):
    return [
        path("stream/<str:channel>/", Stream.as_view()),
        path("poll/<str:channel>/", Poll.as_view()),
        path("ws/<str:channel>/", Echo.as_view()),
    ]
