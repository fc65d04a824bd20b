"""The resume benchmark's one view: a durable event stream per channel."""

from django.urls import path

from grip_views import EventStreamView


class Events(EventStreamView):
    durable = True

    def channels_for(self):
        return [self.kwargs["channel"]]


urlpatterns = [path("events/<str:channel>/", Events.as_view())]
