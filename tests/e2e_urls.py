from django.urls import path

from . import e2e_views as views

urlpatterns = [
    path("stream/<str:channel>/", views.Stream.as_view()),
    path("events/<str:channel>/", views.Events.as_view()),
    path("poll/<str:channel>/", views.Poll.as_view()),
    path("ws/<str:channel>/", views.Socket.as_view()),
    path("member/", views.MemberStream.as_view()),
]
