"""The history store in the app's own database (the default): the transactional outbox.

``append`` runs inside the caller's transaction: the event commits or rolls
back with the change that caused it. The id comes from the channel's row in
``grip_views_channel``, incremented with ``UPDATE ... SET last_id = last_id + 1``:
on PostgreSQL that takes the row's lock until the writer commits, so a
channel's writers queue and commit in id order; SQLite serializes all writers.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import router, transaction
from django.db.models import F, Min
from django.utils import timezone

from .base import HistoryBackend, Replay, StoredEvent

__all__ = ["DatabaseHistory"]


class DatabaseHistory(HistoryBackend):
    """Events in ``grip_views_event``, ids in ``grip_views_channel`` (``manage.py migrate``)."""

    transactional = True
    #: Built with ``GRIP_HISTORY_DATABASE`` (see ``build_store``).
    uses_database = True

    def __init__(self, using: str | None = None) -> None:
        self.using = using

    def _db(self, using: str | None = None) -> str:
        from ..models import HistoryEvent

        return using or self.using or router.db_for_write(HistoryEvent)

    def append(self, channel: str, payload: Mapping[str, Any], *, using: str | None = None) -> int:
        from ..models import HistoryChannel, HistoryEvent

        db = self._db(using)
        with transaction.atomic(using=db):
            channels = HistoryChannel.objects.using(db)
            channels.bulk_create([HistoryChannel(name=channel)], ignore_conflicts=True)
            channels.filter(name=channel).update(last_id=F("last_id") + 1)
            seq = channels.filter(name=channel).values_list("last_id", flat=True).get()
            HistoryEvent.objects.using(db).create(channel=channel, seq=seq, payload=dict(payload))
        return int(seq)

    def last_id(self, channel: str) -> int:
        from ..models import HistoryChannel

        found = HistoryChannel.objects.using(self._db()).filter(name=channel)
        return int(found.values_list("last_id", flat=True).first() or 0)

    def read(self, channel: str, after: int, limit: int | None = None) -> Replay:
        from ..models import HistoryEvent

        db = self._db()
        last = self.last_id(channel)
        if after > last:
            return Replay(channel, after, last, reset=True)
        if after == last:
            return Replay(channel, after, last)
        events = HistoryEvent.objects.using(db).filter(channel=channel, seq__gt=after).order_by("seq")
        values = events.values_list("seq", "payload", "created")
        rows = list(values[:limit] if limit else values)
        if not rows or rows[0][0] != after + 1:
            return Replay(channel, after, last, reset=True)  # trimmed: the next one is gone
        return Replay(
            channel,
            after,
            last,
            tuple(StoredEvent(channel, int(s), p, c.timestamp()) for s, p, c in rows),
        )

    def trim(self, max_events: int | None = None, max_age: float | None = None) -> int:
        from ..models import HistoryChannel, HistoryEvent

        db = self._db()
        events = HistoryEvent.objects.using(db)
        dropped = 0
        if max_age is not None:
            cutoff = timezone.now() - datetime.timedelta(seconds=max_age)
            dropped += events.filter(sent=True, created__lt=cutoff).delete()[0]
        if max_events is not None:
            for name, last in HistoryChannel.objects.using(db).values_list("name", "last_id"):
                dropped += events.filter(channel=name, sent=True, seq__lte=last - max_events).delete()[0]
        return dropped

    def oldest_id(self, channel: str) -> int | None:
        from ..models import HistoryEvent

        found = HistoryEvent.objects.using(self._db()).filter(channel=channel).aggregate(m=Min("seq"))
        return found["m"]

    # -- the outbox ------------------------------------------------------------------
    def unsent_channels(self) -> list[str]:
        from ..models import HistoryEvent

        rows = HistoryEvent.objects.using(self._db()).filter(sent=False).values_list("channel", flat=True)
        return sorted(set(rows))

    @contextmanager
    def sending(self, channel: str) -> Iterator[None]:
        from ..models import HistoryChannel

        db = self._db()
        with transaction.atomic(using=db):
            # A write first: the channel row's lock on PostgreSQL (writers of this
            # channel wait, as other senders do), the write lock on SQLite.
            HistoryChannel.objects.using(db).filter(name=channel).update(last_id=F("last_id"))
            yield

    def unsent(self, channel: str, limit: int) -> list[StoredEvent]:
        from ..models import HistoryEvent

        rows = (
            HistoryEvent.objects.using(self._db())
            .filter(channel=channel, sent=False)
            .order_by("seq")
            .values_list("seq", "payload", "created")[:limit]
        )
        return [StoredEvent(channel, int(s), p, c.timestamp()) for s, p, c in rows]

    def mark_sent(self, channel: str, ids: Sequence[int]) -> None:
        from ..models import HistoryEvent

        HistoryEvent.objects.using(self._db()).filter(channel=channel, seq__in=list(ids)).update(sent=True)

    def __repr__(self) -> str:
        return f"<DatabaseHistory {self.using or 'default'}>"
