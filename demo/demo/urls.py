from django.urls import include, path

from . import chat, live, views

urlpatterns = [
    path("", live.LivePage.as_view(), name="live"),
    path("stream/", views.StreamView.as_view()),
    path("echo/", views.EchoView.as_view()),
    path("broadcast/", views.broadcast),
    path("events/", live.EventsView.as_view()),
    path("api/", include("demo_api.urls")),
    path("chat/<slug:room>/", chat.ChatPage.as_view()),
    path("chat/<slug:room>/socket/", chat.ChatRoom.as_view()),
    path("chat/<slug:room>/members/", chat.ChatMembers.as_view()),
]
