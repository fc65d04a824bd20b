"""The database history store's tables (the default ``GRIP_HISTORY_BACKEND``).

``HistoryChannel`` keeps each channel's last id: writers take its row lock
(``UPDATE ... last_id = last_id + 1``) inside their own transaction, so ids
only grow, have no holes, and commit in id order. It also holds the
channel's send lease. ``HistoryEvent`` is both the
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
    #: The send lease: who sends the channel's events now (a token, "" when
    #: nobody) and until when (seconds since the epoch), so that one sender
    #: at a time sends them, in order, without a transaction open across the
    #: proxy's answer (see ``DatabaseHistory.sending``).
    sender: models.CharField[str, str] = models.CharField(max_length=32, default="")
    sending_until: models.FloatField[float, float] = models.FloatField(default=0.0)

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


class PresenceChannel(models.Model):
    """A channel with presence: its lock row (every join and leave of the channel
    takes it), whether it is occupied, and since when it is empty (the debounce)."""

    name: models.CharField[str, str] = models.CharField(max_length=200, primary_key=True)
    occupied: models.BooleanField[bool, bool] = models.BooleanField(default=False)
    vacant_since: models.FloatField[float | None, float | None] = models.FloatField(null=True)

    class Meta:
        db_table = "grip_views_presence_channel"
        indexes = [models.Index(fields=["vacant_since"], name="grip_views_presence_vacant")]

    def __str__(self) -> str:
        return f"{self.name} ({'occupied' if self.occupied else 'empty'})"


class PresenceMember(models.Model):
    """A member whose ``join`` was announced and whose ``leave`` was not yet."""

    channel: models.CharField[str, str] = models.CharField(max_length=200)
    member: models.CharField[str, str] = models.CharField(max_length=200)

    class Meta:
        db_table = "grip_views_presence_member"
        constraints = [
            models.UniqueConstraint(fields=["channel", "member"], name="grip_views_presence_member_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.member} in {self.channel}"


class PresenceEntry(models.Model):
    """One connection of one member in one channel, live until ``expires_at``
    (seconds since the epoch), which each heartbeat pushes back."""

    channel: models.CharField[str, str] = models.CharField(max_length=200)
    member: models.CharField[str, str] = models.CharField(max_length=200)
    connection: models.CharField[str, str] = models.CharField(max_length=200)
    info: models.JSONField[Any, Any] = models.JSONField(default=dict)
    expires_at: models.FloatField[float, float] = models.FloatField()

    class Meta:
        db_table = "grip_views_presence"
        constraints = [
            models.UniqueConstraint(fields=["channel", "connection"], name="grip_views_presence_conn_uniq"),
        ]
        indexes = [
            models.Index(fields=["connection"], name="grip_views_presence_conn"),
            models.Index(fields=["channel", "member"], name="grip_views_presence_by_member"),
            models.Index(fields=["expires_at"], name="grip_views_presence_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.member} ({self.connection}) in {self.channel}"
