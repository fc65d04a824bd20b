from django.urls import path

from . import presence_views as views

urlpatterns = [
    path("events/<str:room>/", views.RoomEvents.as_view()),
    path("stream/<str:room>/", views.RoomStream.as_view()),
    path("ws/<str:room>/", views.RoomSocket.as_view()),
    path("guest/<str:room>/", views.GuestSocket.as_view()),
    path("async-guest/<str:room>/", views.AsyncGuestSocket.as_view()),
    path("members/<str:room>/", views.RoomMembers.as_view()),
    path("api/members/<str:room>/", views.RoomMembersAPI.as_view()),
]
