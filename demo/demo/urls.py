from django.urls import include, path

from . import live, views

urlpatterns = [
    path("", live.LivePage.as_view(), name="live"),
    path("stream/", views.StreamView.as_view()),
    path("echo/", views.EchoView.as_view()),
    path("broadcast/", views.broadcast),
    path("events/", live.EventsView.as_view()),
    path("api/", include("demo_api.urls")),
]
