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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import OperationalError, connections, router, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from .base import HistoryBackend, Replay, SendBatch, StoredEvent, encode_payload

__all__ = ["DatabaseHistory"]


class DatabaseHistory(HistoryBackend):
    """Events in ``grip_views_event``, ids in ``grip_views_channel`` (``manage.py migrate``)."""

    transactional = True
    #: Built with ``GRIP_HISTORY_DATABASE`` (see ``build_store``).
    uses_database = True

    def __init__(self, using: str | None = None) -> None:
        self.using = using
        # (holder, channel) -> (last id sent, the ids sent but not marked, since when):
        # where a holder's drain stopped short of waiting for SQLite's lock (drain_unfinished).
        self._unwritten: dict[tuple[str, str], tuple[int, list[int], float]] = {}

    def _db(self, using: str | None = None) -> str:
        from ..models import HistoryEvent

        return using or self.using or router.db_for_write(HistoryEvent)

    def append(
        self, channel: str, payload: Mapping[str, Any], *, using: str | None = None, holder: str | None = None
    ) -> int:
        """As :meth:`HistoryBackend.append`. With ``holder``, the statement that takes
        the id also gives the channel's send lease to ``holder`` for :attr:`lease_ttl`
        seconds, unless another sender holds it: the sender thread then starts
        sending at once, where taking the lease itself would wait (on SQLite, for
        every writer's transaction: a burst's whole length). A process that dies
        holding it delays the channel's sending by another process until it lapses."""
        db = self._db(using)
        connection = connections[db]
        vendor = connection.vendor
        if vendor not in _RAW_VENDORS or not connection.features.can_return_columns_from_insert:
            return self._append_portable(db, channel, payload)
        data = encode_payload(payload)
        created = connection.ops.adapt_datetimefield_value(timezone.now())
        claim = None
        if holder is not None:
            now = time.time()
            claim = [holder, now, holder, holder, now, now + self.lease_ttl]
        if not connection.in_atomic_block:  # autocommit: the two statements commit together
            with transaction.atomic(using=db):
                return _append(connection, vendor, channel, data, created, claim)
        # Inside the caller's transaction (the outbox), with no statement of its own
        # and no Atomic (python -m bench.callgrind --durable counts it): if a
        # statement fails, the caller's transaction is rolled back, change and all,
        # as an ``atomic(savepoint=False)`` would.
        try:
            return _append(connection, vendor, channel, data, created, claim)
        except BaseException:
            transaction.set_rollback(True, using=db)
            raise

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

    #: Seconds a drain sends without writing: its sent marks and the lease's
    #: renewal are written together, when it ends and at least this often (or,
    #: where that write would wait, the lease is read), so a lease never has
    #: less than ``mark_interval`` left before a send.
    mark_interval = 1.0

    def drain(self, channel: str, limit: int, send: SendBatch, *, holder: str | None = None) -> int:
        """As :meth:`HistoryBackend.drain`, writing as little as it can: on SQLite
        every write waits for the writers of requests (and ``timeout`` sleeps in
        steps of milliseconds), on PostgreSQL it is a round trip.

        The lease is taken, unless ``holder`` holds it already (an append gave it).
        Then batch after batch is read and sent; their sent marks are written with
        the lease's renewal every :attr:`mark_interval` seconds, and after a batch
        shorter than ``limit`` with the lease's release, so another process's
        sender waits for one pass at most. A crash between a send and its mark
        sends those events again: the proxy drops an id it has (``prev-id``).

        With ``holder``, on SQLite, where the requests' transactions hold the one
        write lock nearly all the time during a burst, no write waits for it:
        when the lock is held, taking the lease is left to the next drain (the
        holder's appends are giving it back), and a drain goes on sending while
        the lease has :attr:`mark_interval` left; after a short batch it returns
        with the marks kept. Either way :meth:`drain_unfinished` says so and the
        holder's next drain goes on from the last id it sent. It waits for the
        lock only once the marks are ``lease_ttl / 2`` old.
        """
        db = self._db()
        wait = holder is None
        try:
            token = self._holding(db, channel, holder) or self._take_lease(db, channel, holder, wait=wait)
        except _Locked:
            assert holder is not None
            self._unwritten.setdefault((holder, channel), (0, [], time.monotonic()))
            return 0
        if token is None:
            return 0
        after, unmarked, marked_at = self._unwritten.pop((token, channel), (0, [], time.monotonic()))
        total, held = 0, True
        try:
            while True:
                events = self._unsent_after(db, channel, after, limit)
                if events:
                    send(events)
                    unmarked += [event.id for event in events]
                    after = events[-1].id
                    total += len(events)
                full = len(events) == limit
                if full and time.monotonic() - marked_at < self.mark_interval:
                    continue
                until = time.time() + self.lease_ttl if full else None
                patient = wait or time.monotonic() - marked_at >= self.lease_ttl / 2
                try:
                    # Not renewed: it lapsed and another sender took it (and sends the rest).
                    held = self._mark_and_set_lease(db, channel, unmarked, token, until, wait=patient)
                except _Locked:  # the lease stays ours meanwhile
                    if not full:
                        self._unwritten[token, channel] = (after, unmarked, marked_at)
                        held = False
                        return total
                    if self._holding(db, channel, token):
                        continue
                    held = self._mark_and_set_lease(db, channel, unmarked, token, until)
                held = held and full
                unmarked, marked_at = [], time.monotonic()
                if not held:
                    return total
        finally:
            if held:  # a batch failed: mark what was sent before it, release the lease
                self._mark_and_set_lease(db, channel, unmarked, token, None)

    def drain_unfinished(self, channel: str, holder: str) -> bool:
        """Whether ``holder``'s last drain of ``channel`` stopped where it would have
        waited for SQLite's lock (see :meth:`drain`): the sender drains it again soon."""
        return (holder, channel) in self._unwritten

    def _mark_and_set_lease(
        self, db: str, channel: str, ids: list[int], token: str, until: float | None, *, wait: bool = True
    ) -> bool:
        """In one transaction, mark ``ids`` sent and renew the lease ``token`` holds
        until ``until`` or release it (None); False if ``token`` holds no lease.
        Without ``wait``, raises :class:`_Locked` if SQLite's lock is held."""
        with _waiting(db, wait), transaction.atomic(using=db):
            if ids:
                self.mark_sent(channel, ids)
            return self._set_lease(db, channel, token, until)

    def _holding(self, db: str, channel: str, holder: str | None) -> str | None:
        """``holder`` if it holds the channel's lease for at least :attr:`mark_interval` more."""
        from ..models import HistoryChannel

        if holder is None:
            return None
        if connections[db].vendor in _RAW_VENDORS:
            with connections[db].cursor() as cursor:
                cursor.execute(_HOLDING, [channel, holder])
                row = cursor.fetchone()
            until = None if row is None else row[0]
        else:
            found = HistoryChannel.objects.using(db).filter(name=channel, sender=holder)
            until = found.values_list("sending_until", flat=True).first()
        return holder if until is not None and until > time.time() + self.mark_interval else None

    def _unsent_after(self, db: str, channel: str, after: int, limit: int) -> list[StoredEvent]:
        """The oldest unsent events of ``channel`` with ids after ``after``."""
        from ..models import HistoryEvent

        connection = connections[db]
        if connection.vendor in _RAW_VENDORS:
            with connection.cursor() as cursor:
                cursor.execute(_UNSENT, [channel, after, limit])
                rows = cursor.fetchall()
            # The payload comes as the JSON text the JSONField would decode.
            return [StoredEvent(channel, int(s), json.loads(p)) for s, p in rows]
        found = HistoryEvent.objects.using(db).filter(channel=channel, sent=False, seq__gt=after)
        # Without ``created``: the sender does not read it, and parsing it costs.
        rows = found.order_by("seq").values_list("seq", "payload")[:limit]
        return [StoredEvent(channel, int(s), p) for s, p in rows]

    def _take_lease(
        self, db: str, channel: str, token: str | None = None, *, wait: bool = True
    ) -> str | None:
        """Take the channel's send lease for ``token`` (a new one by default), waiting
        while another sender holds it; the token, or None when the channel has no
        row (no event was ever appended). Without ``wait``, raises
        :class:`_Locked` if SQLite's lock is held."""
        from ..models import HistoryChannel

        raw = connections[db].vendor in _RAW_VENDORS
        channels = HistoryChannel.objects.using(db).filter(name=channel)
        token, delay = token or uuid.uuid4().hex, 0.002
        while True:
            now = time.time()
            until = now + self.lease_ttl
            if raw:
                with _waiting(db, wait):
                    taken = _execute(db, _TAKE_LEASE, [token, until, channel, token, now])
            else:
                free = Q(sender="") | Q(sender=token) | Q(sending_until__lt=now)
                taken = channels.filter(free).update(sender=token, sending_until=until)
            if taken:
                return token
            if not channels.exists():
                return None
            time.sleep(delay)  # another process sends this channel now
            delay = min(delay * 2, 0.05)

    def _set_lease(self, db: str, channel: str, token: str, until: float | None) -> bool:
        """Renew the lease ``token`` holds until ``until``, or release it (None);
        False if ``token`` holds no lease of the channel."""
        from ..models import HistoryChannel

        if connections[db].vendor in _RAW_VENDORS:
            if until is None:
                return bool(_execute(db, _RELEASE_LEASE, [channel, token]))
            return bool(_execute(db, _RENEW_LEASE, [until, channel, token]))
        held = HistoryChannel.objects.using(db).filter(name=channel, sender=token)
        if until is None:
            return bool(held.update(sender="", sending_until=0.0))
        return bool(held.update(sending_until=until))

    def unsent(self, channel: str, limit: int) -> list[StoredEvent]:
        return self._unsent_after(self._db(), channel, 0, limit)

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
#: The same, giving the send lease to a holder (``append(holder=)``) unless another
#: holds it: params holder, now, holder, holder, now, claimed until, then the name.
#: SQLite's two-argument MAX is PostgreSQL's GREATEST.
_CLAIM = (
    "last_id = last_id + 1, "
    "sender = CASE WHEN sender IN ('', %s) OR sending_until < %s THEN %s ELSE sender END, "
    "sending_until = CASE WHEN sender IN ('', %s) OR sending_until < %s "
    "THEN {max}(sending_until, %s) ELSE sending_until END"
)
_NEXT_ID_CLAIM = _NEXT_ID.replace("last_id = last_id + 1", _CLAIM.format(max="MAX"))
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
_APPEND_EVENT_PG_CLAIM = _APPEND_EVENT_PG.replace("last_id = last_id + 1", _CLAIM.format(max="GREATEST"))
#: The databases whose ``UPDATE`` takes ``RETURNING`` (SQLite from 3.35, when
#: Django's ``can_return_columns_from_insert`` says so too): appends and the
#: outbox's statements run as written here.
_RAW_VENDORS = ("postgresql", "sqlite")


def _append(
    connection: Any, vendor: str, channel: str, data: str, created: Any, claim: list[Any] | None
) -> int:
    """The event's id, taken and inserted (the channel's row made on its first event)."""
    with connection.cursor() as cursor:
        seq = _append_event(cursor, vendor, channel, data, created, claim)
        if seq is None:  # the channel's first event
            cursor.execute(_NEW_CHANNEL, [channel])
            seq = _append_event(cursor, vendor, channel, data, created, claim)
    assert seq is not None
    return seq


def _append_event(
    cursor: Any, vendor: str, channel: str, data: str, created: Any, claim: list[Any] | None
) -> int | None:
    """Take the channel's next id and insert the event with it (with ``claim``, the
    parameters of ``_CLAIM``: giving the lease too); None when the channel has no row yet."""
    if vendor == "postgresql":
        if claim is None:
            cursor.execute(_APPEND_EVENT_PG, [channel, channel, data, created])
        else:
            cursor.execute(_APPEND_EVENT_PG_CLAIM, [*claim, channel, channel, data, created])
        row = cursor.fetchone()
        return None if row is None else int(row[0])
    if claim is None:
        cursor.execute(_NEXT_ID, [channel])
    else:
        cursor.execute(_NEXT_ID_CLAIM, [*claim, channel])
    row = cursor.fetchone()
    if row is None:
        return None
    cursor.execute(_INSERT_EVENT, [channel, row[0], data, created])
    return int(row[0])


# The outbox's statements on those databases: the sender runs them for every batch,
# and the ORM's versions cost it more than the events' own encoding (bench l).
_TAKE_LEASE = (
    "UPDATE grip_views_channel SET sender = %s, sending_until = %s "
    "WHERE name = %s AND (sender IN ('', %s) OR sending_until < %s)"
)
_RENEW_LEASE = "UPDATE grip_views_channel SET sending_until = %s WHERE name = %s AND sender = %s"
_RELEASE_LEASE = (
    "UPDATE grip_views_channel SET sender = '', sending_until = 0 WHERE name = %s AND sender = %s"
)
_UNSENT = (
    "SELECT seq, payload FROM grip_views_event WHERE sent = FALSE AND channel = %s AND seq > %s "
    "ORDER BY seq LIMIT %s"
)
_HOLDING = "SELECT sending_until FROM grip_views_channel WHERE name = %s AND sender = %s"
_MARK_SENT = "UPDATE grip_views_event SET sent = TRUE WHERE channel = %s AND seq BETWEEN %s AND %s"


class _Locked(Exception):
    """SQLite's write lock is held (by a request's transaction): a write that does
    not wait for it did nothing."""


@contextmanager
def _waiting(db: str, wait: bool) -> Iterator[None]:
    """Writes to database ``db`` that wait for its lock as its settings say, or,
    without ``wait`` on SQLite, raise :class:`_Locked` at once instead (SQLite's
    busy timeout, ``timeout`` in ``OPTIONS``, is 0 meanwhile)."""
    if wait or connections[db].vendor != "sqlite":
        yield
        return
    with connections[db].cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        (before,) = cursor.fetchone()
        cursor.execute("PRAGMA busy_timeout = 0")
    try:
        yield
    except OperationalError as exc:
        if "locked" in str(exc):
            raise _Locked(str(exc)) from exc
        raise
    finally:
        with connections[db].cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(before)}")


def _execute(db: str, sql: str, params: Sequence[Any]) -> int:
    """Run one statement on database ``db``; how many rows it changed."""
    with connections[db].cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
