from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.LivePage.as_view(), name="live"),
    path("stream/", views.StreamView.as_view()),
    path("echo/", views.EchoView.as_view()),
    path("broadcast/", views.broadcast),
    path("events/", views.EventsView.as_view()),
    path("api/", include("demo_api.urls")),
]
