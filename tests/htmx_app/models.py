from django.conf import settings
from django.db import models

from grip_views.htmx import BroadcastChangesMixin


class Item(BroadcastChangesMixin, models.Model):
    """Broadcast on "items" with the conventional templates (htmx_app/item_grip*.html)."""

    title = models.CharField(max_length=200)
    broadcast_stream = "items"


class Note(BroadcastChangesMixin, models.Model):
    """One stream per owner: a note's fragments reach only its owner's pages."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=200)
    broadcast_insert = "afterbegin"

    def get_broadcast_stream(self):
        return ("notes", self.owner)
