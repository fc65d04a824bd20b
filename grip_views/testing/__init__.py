"""Test helpers, re-exported: an in-memory outbox of publishes, and requests that look proxied.

- :mod:`.memory`: :class:`InMemoryPublisher`, :data:`outbox`, :func:`messages_on`.
- :mod:`.client`: :class:`GripClient` (signed, WebSocket events encoded),
  :class:`WebSocketReply`, :func:`grip_sig`.
- :mod:`.pytest_plugin`: the fixtures (``grip_outbox``, ``grip_client``,
  ``grip_live``, ``pushpin_server``).
"""

from .client import GripClient, WebSocketReply, grip_sig
from .memory import InMemoryPublisher, messages_on, outbox

__all__ = [
    "GripClient",
    "InMemoryPublisher",
    "WebSocketReply",
    "grip_sig",
    "messages_on",
    "outbox",
]
