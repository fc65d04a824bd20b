from django.urls import path

from . import security_views as views

urlpatterns = [
    path("sec/stream/", views.AuthStream.as_view()),
    path("sec/poll/", views.AuthPoll.as_view()),
    path("sec/ws/", views.AuthSocket.as_view()),
    path("sec/ws/partner/", views.PartnerSocket.as_view()),
    path("sec/ws/meta/", views.MetaSocket.as_view()),
    path("sec/info/", views.grip_info),
    path("sec/e2e/stream/<str:channel>/", views.ChannelStream.as_view()),
    path("sec/e2e/ws/<str:channel>/", views.ChannelSocket.as_view()),
]
