from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path

from . import chat, live, views

urlpatterns = [
    path("", live.LivePage.as_view(), name="live"),
    path("stream/", views.StreamView.as_view()),
    path("echo/", views.EchoView.as_view()),
    path("broadcast/", views.broadcast),
    path("events/", live.EventsView.as_view()),
    path("events/ws/", live.EventsSocket.as_view()),
    path("api/", include("demo_api.urls")),
    path("chat/<slug:room>/", chat.ChatPage.as_view()),
    path("chat/<slug:room>/socket/", chat.ChatRoom.as_view()),
    # The demo serves grip-socket.js itself, with DEBUG off and under uvicorn too; a
    # deployment runs collectstatic and serves STATIC_ROOT from its web server or WhiteNoise.
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
    path("chat/<slug:room>/members/", chat.ChatMembers.as_view()),
]
