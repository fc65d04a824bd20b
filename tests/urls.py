from django.urls import path

from . import views

urlpatterns = [
    path("feed/", views.Feed.as_view()),
    path("rooms/<str:room>/", views.RoomFeed.as_view()),
    path("private/", views.PrivateFeed.as_view()),
    path("events/", views.Events.as_view()),
    path("async-feed/", views.AsyncFeed.as_view()),
    path("poll/", views.Poll.as_view()),
    path("ws/echo/", views.Echo.as_view()),
    path("ws/async/", views.AsyncEcho.as_view()),
    path("ws/json/", views.JsonChat.as_view()),
    path("ws/function/", views.function_view),
]
