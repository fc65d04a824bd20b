"""Occupancy signals, sent once per change however many processes serve the app.

``channel_occupied(channel, count)``: a channel got its first member, and had
been empty for longer than ``GRIP_PRESENCE_DEBOUNCE`` (or never had one).
``channel_vacated(channel)``: a channel has had no member for the debounce;
sent by the expiry sweep that finds it (see :func:`grip_views.presence.sweep`).
A channel that empties and refills within the debounce sends neither.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["channel_occupied", "channel_vacated"]

channel_occupied = Signal()
channel_vacated = Signal()
