from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path

from grip_views.htmx import FragmentStreamView

from . import chat, live, todos, views

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
    path("todos/", todos.TodoPage.as_view(), name="todos"),
    path("todos/new/", todos.create, name="todo-create"),
    path("todos/<int:pk>/toggle/", todos.toggle, name="todo-toggle"),
    path("todos/<int:pk>/delete/", todos.delete, name="todo-delete"),
    path("todos/live/", FragmentStreamView.as_view(), name="grip_htmx_stream"),
]
