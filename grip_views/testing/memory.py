"""An in-memory outbox of publishes, for tests (like Django's ``mail.outbox``).

``GRIP_PUBLISH_BACKEND = "grip_views.testing.InMemoryPublisher"`` keeps every
publish in :data:`outbox`; the pytest plugin's ``grip_outbox`` fixture sets it
up and empties it for each test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..conf import grip_settings
from ..publishing import Publisher, encode_item

__all__ = ["InMemoryPublisher", "messages_on", "outbox"]

#: Every item published through :class:`InMemoryPublisher`, oldest first.
outbox: list[dict[str, Any]] = []


class InMemoryPublisher(Publisher):
    """A publisher that appends items to :data:`outbox` instead of sending them."""

    def publish_items(self, items: Sequence[Mapping[str, Any]], blocking: bool = True) -> None:
        for item in items:
            encode_item(item)  # fail on what a proxy would refuse
            outbox.append(dict(item))


def messages_on(channel: str, format: str | None = None) -> list[Any]:
    """What :data:`outbox` holds for ``channel`` (with ``GRIP_PREFIX``): whole items,
    or only the exported ``format`` (``"http-stream"``, ``"ws-message"``...)."""
    full = grip_settings.prefix + channel
    items = [i for i in outbox if i["channel"] == full]
    if format is None:
        return items
    return [i["formats"][format] for i in items if format in i["formats"]]
