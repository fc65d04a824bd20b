"""The database history store's tables (the default ``GRIP_HISTORY_BACKEND``).

``HistoryChannel`` keeps each channel's last id: writers take its row lock
(``UPDATE ... last_id = last_id + 1``) inside their own transaction, so ids
only grow, have no holes, and commit in id order. ``HistoryEvent`` is both the
history that resumes clients and the transactional outbox: an event is
written in the transaction of the change that caused it, and ``sent`` turns
true once every proxy accepted it.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import models
from django.utils import timezone


class HistoryChannel(models.Model):
    name: models.CharField[str, str] = models.CharField(max_length=200, primary_key=True)
    last_id: models.BigIntegerField[int, int] = models.BigIntegerField(default=0)

    class Meta:
        db_table = "grip_views_channel"

    def __str__(self) -> str:
        return f"{self.name} (last id {self.last_id})"


class HistoryEvent(models.Model):
    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    channel: models.CharField[str, str] = models.CharField(max_length=200)
    seq: models.BigIntegerField[int, int] = models.BigIntegerField()
    payload: models.JSONField[Any, Any] = models.JSONField()
    created: models.DateTimeField[Any, datetime.datetime] = models.DateTimeField(default=timezone.now)
    sent: models.BooleanField[bool, bool] = models.BooleanField(default=False)

    class Meta:
        db_table = "grip_views_event"
        constraints = [
            models.UniqueConstraint(fields=["channel", "seq"], name="grip_views_event_channel_seq"),
        ]
        indexes = [
            models.Index(fields=["sent", "channel", "seq"], name="grip_views_event_unsent"),
            models.Index(fields=["created"], name="grip_views_event_created"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} #{self.seq}"
