"""Presence: who is connected to a channel, their join and leave, occupancy.

:class:`PresenceMixin` on a stream or WebSocket view makes its clients members
of its channels; :func:`members` says who is there; :class:`PresenceMembersView`
answers it as JSON; :data:`channel_occupied` and :data:`channel_vacated` are
the debounced occupancy signals. The store is ``GRIP_PRESENCE_BACKEND``
(the database by default: ``manage.py migrate``; or Redis).
"""

from __future__ import annotations

from .base import Change, Member, PresenceBackend
from .signals import channel_occupied, channel_vacated
from .tracking import get_presence, join, leave, member_count, members, refresh, reset_presence, sweep
from .views import PresenceMembersView, PresenceMixin

__all__ = [
    "Change",
    "Member",
    "PresenceBackend",
    "PresenceMembersView",
    "PresenceMixin",
    "channel_occupied",
    "channel_vacated",
    "get_presence",
    "join",
    "leave",
    "member_count",
    "members",
    "refresh",
    "reset_presence",
    "sweep",
]
