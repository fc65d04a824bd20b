"""An in-memory outbox of publishes, for tests (like Django's ``mail.outbox``).

``GRIP_PUBLISH_BACKEND = "grip_views.testing.InMemoryPublisher"`` keeps every
publish in :data:`outbox`; the pytest plugin's ``grip_outbox`` fixture sets it
up and empties it for each test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..conf import grip_settings
from ..protocol.instructions import ChannelLike, as_channel
from ..publishing import Publisher, encode_item

__all__ = ["InMemoryPublisher", "messages_on", "outbox", "proxy_channels"]

#: Every item published through :class:`InMemoryPublisher`, oldest first.
outbox: list[dict[str, Any]] = []


class InMemoryPublisher(Publisher):
    """A publisher that appends items to :data:`outbox` instead of sending them."""

    def publish_items(self, items: Sequence[Mapping[str, Any]], blocking: bool = True) -> None:
        for item in items:
            encode_item(item)  # fail on what a proxy would refuse
            outbox.append(dict(item))


def messages_on(channel: ChannelLike, format: str | None = None) -> list[Any]:
    """What :data:`outbox` holds for ``channel``: whole items, or only the
    exported ``format`` (``"http-stream"``, ``"ws-message"``...), oldest first.

    ``channel`` is the name your code publishes to; ``GRIP_PREFIX`` is put
    before it, as :func:`grip_views.publish` does. The name the proxy sees
    (prefixed, as outbox items carry it) is matched too, so both spellings
    find the same items.
    """
    names = proxy_channels(channel)
    items = [i for i in outbox if i["channel"] in names]
    if format is None:
        return items
    return [i["formats"][format] for i in items if format in i["formats"]]


def proxy_channels(channel: ChannelLike) -> tuple[str, ...]:
    """The names the proxy may know ``channel`` by: ``GRIP_PREFIX + name``, and
    the name itself when it already starts with the prefix."""
    name = as_channel(channel).name
    prefix = grip_settings.prefix
    if prefix and name.startswith(prefix):
        return (prefix + name, name)
    return (prefix + name,)
