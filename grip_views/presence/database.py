"""The presence store in the app's own database (the default ``GRIP_PRESENCE_BACKEND``).

Entries are rows of ``grip_views_presence``; ``grip_views_presence_member``
holds the members whose ``join`` was announced, ``grip_views_presence_channel``
each channel's occupancy. Every change of a channel runs in one transaction
that first writes the channel's row: on PostgreSQL that takes the row's lock
(the channel's writers queue), on SQLite the database's write lock. So each
``join`` and ``leave`` is found, and reported, by exactly one writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import router, transaction
from django.db.models import F

from .base import Change, Member, PresenceBackend

__all__ = ["DatabasePresence"]


class DatabasePresence(PresenceBackend):
    """Presence in the database ``using`` (``GRIP_HISTORY_DATABASE``; ``manage.py migrate``)."""

    #: Built with ``GRIP_HISTORY_DATABASE`` (see ``build_store``).
    uses_database = True

    def __init__(self, using: str | None = None) -> None:
        self.using = using

    def __repr__(self) -> str:
        return f"<DatabasePresence {self.using or 'default'}>"

    def _db(self) -> str:
        from ..models import PresenceEntry

        return self.using or router.db_for_write(PresenceEntry)

    def _lock(self, db: str, channel: str, *, create: bool) -> Any:
        """Take ``channel``'s lock (a write first); its row, or None when it has none."""
        from ..models import PresenceChannel

        rows = PresenceChannel.objects.using(db)
        if create:
            rows.bulk_create([PresenceChannel(name=channel)], ignore_conflicts=True)
        else:
            rows.filter(name=channel).update(occupied=F("occupied"))
        return rows.select_for_update().filter(name=channel).first()

    def _add_entry(
        self, channel: str, member: str, connection: str, info: Mapping[str, Any], expires_at: float
    ) -> tuple[int, bool] | None:
        from ..models import PresenceChannel, PresenceEntry, PresenceMember

        db = self._db()
        for _ in range(3):  # the channel's row may be swept away between the insert and the lock
            with transaction.atomic(using=db):
                row = self._lock(db, channel, create=True)
                if row is None:
                    continue
                PresenceEntry.objects.using(db).update_or_create(
                    channel=channel,
                    connection=connection,
                    defaults={"member": member, "info": dict(info), "expires_at": expires_at},
                )
                members = PresenceMember.objects.using(db)
                if members.filter(channel=channel, member=member).exists():
                    return None
                members.create(channel=channel, member=member)
                if not row.occupied or row.vacant_since is not None:
                    PresenceChannel.objects.using(db).filter(name=channel).update(
                        occupied=True, vacant_since=None
                    )
                return members.filter(channel=channel).count(), not row.occupied
        raise RuntimeError(f"presence: could not lock channel {channel!r}")  # pragma: no cover

    def refresh(self, connection: str, expires_at: float, now: float) -> int:
        from ..models import PresenceEntry

        live = PresenceEntry.objects.using(self._db()).filter(connection=connection, expires_at__gt=now)
        return int(live.update(expires_at=expires_at))

    def leave(self, connection: str, now: float) -> list[Change]:
        from ..models import PresenceEntry

        db = self._db()
        entries = PresenceEntry.objects.using(db)
        changes: list[Change] = []
        for channel in list(entries.filter(connection=connection).values_list("channel", flat=True)):
            with transaction.atomic(using=db):
                self._lock(db, channel, create=False)
                gone = list(
                    entries.filter(channel=channel, connection=connection).values_list("member", "info")
                )
                entries.filter(channel=channel, connection=connection).delete()
                changes += self._settle(db, channel, gone, now)
        return changes

    def _settle(self, db: str, channel: str, gone: Iterable[tuple[str, Any]], now: float) -> list[Change]:
        """Under the channel's lock: a ``leave`` for each member of ``gone`` with no live entry left."""
        from ..models import PresenceChannel, PresenceEntry, PresenceMember

        entries = PresenceEntry.objects.using(db).filter(channel=channel)
        members = PresenceMember.objects.using(db).filter(channel=channel)
        left = []
        for member, info in dict(gone).items():
            if entries.filter(member=member, expires_at__gt=now).exists():
                continue
            entries.filter(member=member).delete()  # expired leftovers of other connections
            if members.filter(member=member).delete()[0]:
                left.append((member, info))
        if not left:
            return []
        count = members.count()
        if count == 0:
            PresenceChannel.objects.using(db).filter(name=channel).update(vacant_since=now)
        return [Change("leave", channel, Member(m, info or {}, 0), count) for m, info in left]

    def expire(self, now: float, debounce: float) -> list[Change]:
        from ..models import PresenceChannel, PresenceEntry

        db = self._db()
        entries = PresenceEntry.objects.using(db)
        changes: list[Change] = []
        stale = set(entries.filter(expires_at__lte=now).values_list("channel", flat=True))
        for channel in sorted(stale):
            with transaction.atomic(using=db):
                self._lock(db, channel, create=False)
                expired = entries.filter(channel=channel, expires_at__lte=now)
                gone = list(expired.values_list("member", "info"))
                expired.delete()
                changes += self._settle(db, channel, gone, now)
        cutoff = now - debounce
        rows = PresenceChannel.objects.using(db)
        for channel in list(rows.filter(vacant_since__lte=cutoff).values_list("name", flat=True)):
            # One statement: of two sweepers, one deletes the row and reports it.
            if rows.filter(name=channel, vacant_since__lte=cutoff).delete()[0]:
                changes.append(Change("vacated", channel))
        return changes

    def members(self, channel: str, now: float) -> list[Member]:
        from ..models import PresenceEntry

        rows = (
            PresenceEntry.objects.using(self._db())
            .filter(channel=channel, expires_at__gt=now)
            .order_by("member", "-expires_at")
            .values_list("member", "info")
        )
        found: dict[str, list[Any]] = {}
        for member, info in rows:
            seen = found.get(member)
            if seen is None:
                found[member] = [info, 1]
            else:
                seen[1] += 1
        return [Member(key, info, n) for key, (info, n) in found.items()]

    def count(self, channel: str, now: float) -> int:
        from ..models import PresenceEntry

        live = PresenceEntry.objects.using(self._db()).filter(channel=channel, expires_at__gt=now)
        return int(live.values("member").distinct().count())
