"""Test helpers, re-exported: an in-memory outbox of publishes, requests that look
proxied, and what a real Pushpin says about its subscriptions.

- :mod:`.memory`: :class:`InMemoryPublisher`, :data:`outbox`, :func:`messages_on`.
- :mod:`.client`: :class:`GripClient` (signed, WebSocket events encoded, meta
  kept per connection), :class:`WebSocketReply`, :func:`grip_sig`.
- :mod:`.stats`: :class:`PushpinStats` (wait until Pushpin holds a client).
- :mod:`.pytest_plugin`: the fixtures (``grip_outbox``, ``grip_client``,
  ``grip_live``, ``pushpin_server``) and the in-memory default for every test.
"""

from .client import GripClient, WebSocketReply, grip_sig
from .memory import InMemoryPublisher, messages_on, outbox
from .stats import PushpinStats, PushpinStatsError

__all__ = [
    "GripClient",
    "InMemoryPublisher",
    "PushpinStats",
    "PushpinStatsError",
    "WebSocketReply",
    "grip_sig",
    "messages_on",
    "outbox",
]
