"""The history store in the app's own database (the default): the transactional outbox.

``append`` runs inside the caller's transaction: the event commits or rolls
back with the change that caused it. The id comes from the channel's row in
``grip_views_channel``, incremented with ``UPDATE ... SET last_id = last_id + 1``:
on PostgreSQL that takes the row's lock until the writer commits, so a
channel's writers queue and commit in id order; SQLite serializes all writers.

On PostgreSQL and SQLite (3.35 and later) an append is two statements, the
``UPDATE ... RETURNING`` and the event's ``INSERT``, with no savepoint: it is
on the path of every durable publish (bench l). Other databases take the
ORM's portable path.

Senders take the channel's send lease (its row's ``sender`` and
``sending_until``) in a short transaction of their own, not a lock held
across the proxy's answer, so writers never wait for a proxy.
"""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections, router, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from .base import HistoryBackend, Replay, StoredEvent, encode_payload

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
        db = self._db(using)
        connection = connections[db]
        vendor = connection.vendor
        if vendor not in _RAW_VENDORS or not connection.features.can_return_columns_from_insert:
            return self._append_portable(db, channel, payload)
        data = encode_payload(payload)
        created = connection.ops.adapt_datetimefield_value(timezone.now())
        # savepoint=False: inside the caller's transaction this adds no statement;
        # if a statement fails, the caller's transaction is rolled back, change and all.
        with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
            seq = _append_event(cursor, vendor, channel, data, created)
            if seq is None:  # the channel's first event
                cursor.execute(_NEW_CHANNEL, [channel])
                seq = _append_event(cursor, vendor, channel, data, created)
        assert seq is not None
        return seq

    def _append_portable(self, db: str, channel: str, payload: Mapping[str, Any]) -> int:
        from ..models import HistoryChannel, HistoryEvent

        with transaction.atomic(using=db):
            channels = HistoryChannel.objects.using(db)
            channels.bulk_create([HistoryChannel(name=channel)], ignore_conflicts=True)
            channels.filter(name=channel).update(last_id=F("last_id") + 1)
            seq = channels.filter(name=channel).values_list("last_id", flat=True).get()
            # The JSONField encodes it again: JSON's own values, as the other path stores.
            data = json.loads(encode_payload(payload))
            HistoryEvent.objects.using(db).create(channel=channel, seq=seq, payload=data)
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

    #: Seconds a send lease lives if its holder died while holding it.
    lease_ttl = 30.0

    @contextmanager
    def sending(self, channel: str) -> Iterator[None]:
        db = self._db()
        token = self._take_lease(db, channel)
        try:
            yield
        finally:
            if token is not None:
                self._set_lease(db, channel, token, None)

    def drain(self, channel: str, limit: int, send: Callable[[list[StoredEvent]], None]) -> int:
        """As :meth:`HistoryBackend.drain`, with one write a batch: its sent
        marks commit with the lease's renewal, or after the last batch with its
        release. On SQLite every write waits for the writers of requests (and
        ``timeout`` sleeps in steps of milliseconds), so they are as few as can be."""
        db = self._db()
        token = self._take_lease(db, channel)
        if token is None:
            return 0
        total, held = 0, True
        try:
            while True:
                events = self.unsent(channel, limit)
                if events:
                    send(events)
                last = len(events) < limit
                with transaction.atomic(using=db):
                    if events:
                        self.mark_sent(channel, [event.id for event in events])
                    self._set_lease(db, channel, token, None if last else time.time() + self.lease_ttl)
                held = not last
                total += len(events)
                if last:
                    return total
        finally:
            if held:
                self._set_lease(db, channel, token, None)

    def _take_lease(self, db: str, channel: str) -> str | None:
        """Take the channel's send lease, waiting while another sender holds it; its
        token, or None when the channel has no row (no event was ever appended)."""
        from ..models import HistoryChannel

        raw = connections[db].vendor in _RAW_VENDORS
        channels = HistoryChannel.objects.using(db).filter(name=channel)
        token, delay = uuid.uuid4().hex, 0.002
        while True:
            now = time.time()
            until = now + self.lease_ttl
            if raw:
                taken = _execute(db, _TAKE_LEASE, [token, until, channel, now])
            else:
                free = Q(sender="") | Q(sending_until__lt=now)
                taken = channels.filter(free).update(sender=token, sending_until=until)
            if taken:
                return token
            if not channels.exists():
                return None
            time.sleep(delay)  # another process sends this channel now
            delay = min(delay * 2, 0.05)

    def _set_lease(self, db: str, channel: str, token: str, until: float | None) -> None:
        """Renew the lease ``token`` holds until ``until``, or release it (None)."""
        from ..models import HistoryChannel

        if connections[db].vendor in _RAW_VENDORS:
            if until is None:
                _execute(db, _RELEASE_LEASE, [channel, token])
            else:
                _execute(db, _RENEW_LEASE, [until, channel, token])
            return
        held = HistoryChannel.objects.using(db).filter(name=channel, sender=token)
        if until is None:
            held.update(sender="", sending_until=0.0)
        else:
            held.update(sending_until=until)

    def unsent(self, channel: str, limit: int) -> list[StoredEvent]:
        from ..models import HistoryEvent

        db = self._db()
        connection = connections[db]
        if connection.vendor in _RAW_VENDORS:
            with connection.cursor() as cursor:
                cursor.execute(_UNSENT, [channel, limit])
                rows = cursor.fetchall()
            # The payload comes as the JSON text the JSONField would decode.
            return [StoredEvent(channel, int(s), json.loads(p)) for s, p in rows]
        found = HistoryEvent.objects.using(db).filter(channel=channel, sent=False).order_by("seq")
        # Without ``created``: the sender does not read it, and parsing it costs.
        return [StoredEvent(channel, int(s), p) for s, p in found.values_list("seq", "payload")[:limit]]

    def mark_sent(self, channel: str, ids: Sequence[int]) -> None:
        from ..models import HistoryEvent

        db = self._db()
        if ids and connections[db].vendor in _RAW_VENDORS and list(ids) == list(range(ids[0], ids[-1] + 1)):
            _execute(db, _MARK_SENT, [channel, ids[0], ids[-1]])  # a batch of unsent: ids in a row
            return
        HistoryEvent.objects.using(db).filter(channel=channel, seq__in=list(ids)).update(sent=True)

    def __repr__(self) -> str:
        return f"<DatabaseHistory {self.using or 'default'}>"


_NEXT_ID = "UPDATE grip_views_channel SET last_id = last_id + 1 WHERE name = %s RETURNING last_id"
_NEW_CHANNEL = (
    "INSERT INTO grip_views_channel (name, last_id, sender, sending_until) "
    "VALUES (%s, 0, '', 0) ON CONFLICT (name) DO NOTHING"
)
_INSERT_EVENT = (
    "INSERT INTO grip_views_event (channel, seq, payload, created, sent) VALUES (%s, %s, %s, %s, FALSE)"
)
#: PostgreSQL takes the id and inserts the event in one statement: one round trip.
_APPEND_EVENT_PG = (
    "WITH next AS (UPDATE grip_views_channel SET last_id = last_id + 1 WHERE name = %s RETURNING last_id) "
    "INSERT INTO grip_views_event (channel, seq, payload, created, sent) "
    "SELECT %s, last_id, %s::jsonb, %s, FALSE FROM next RETURNING seq"
)
#: The databases whose ``UPDATE`` takes ``RETURNING`` (SQLite from 3.35, when
#: Django's ``can_return_columns_from_insert`` says so too): appends and the
#: outbox's statements run as written here.
_RAW_VENDORS = ("postgresql", "sqlite")


def _append_event(cursor: Any, vendor: str, channel: str, data: str, created: Any) -> int | None:
    """Take the channel's next id and insert the event with it; None when the
    channel has no row yet."""
    if vendor == "postgresql":
        cursor.execute(_APPEND_EVENT_PG, [channel, channel, data, created])
        row = cursor.fetchone()
        return None if row is None else int(row[0])
    cursor.execute(_NEXT_ID, [channel])
    row = cursor.fetchone()
    if row is None:
        return None
    cursor.execute(_INSERT_EVENT, [channel, row[0], data, created])
    return int(row[0])


# The outbox's statements on those databases: the sender runs them for every batch,
# and the ORM's versions cost it more than the events' own encoding (bench l).
_TAKE_LEASE = (
    "UPDATE grip_views_channel SET sender = %s, sending_until = %s "
    "WHERE name = %s AND (sender = '' OR sending_until < %s)"
)
_RENEW_LEASE = "UPDATE grip_views_channel SET sending_until = %s WHERE name = %s AND sender = %s"
_RELEASE_LEASE = (
    "UPDATE grip_views_channel SET sender = '', sending_until = 0 WHERE name = %s AND sender = %s"
)
_UNSENT = (
    "SELECT seq, payload FROM grip_views_event WHERE sent = FALSE AND channel = %s ORDER BY seq LIMIT %s"
)
_MARK_SENT = "UPDATE grip_views_event SET sent = TRUE WHERE channel = %s AND seq BETWEEN %s AND %s"


def _execute(db: str, sql: str, params: Sequence[Any]) -> int:
    """Run one statement on database ``db``; how many rows it changed."""
    with connections[db].cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
