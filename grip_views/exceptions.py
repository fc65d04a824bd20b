"""Every exception grip_views raises, in one place.

Each message says what went wrong and, where there is one, what to change.
"""

from __future__ import annotations

from collections.abc import Sequence


class GripError(Exception):
    """Base class of every grip_views error."""


class GripConfigurationError(GripError):
    """A ``GRIP_*`` setting has the wrong shape; the message names the setting."""


class InvalidVerifyKey(GripConfigurationError, ValueError):
    """A ``Grip-Sig`` verify key that is not a shared secret, a PEM public key
    or an EC P-256 / RSA JWK; the message says which setting and why."""


class InvalidChannel(GripError, ValueError):
    """A channel name that cannot be put in a ``Grip-Channel`` header or a publish."""


class InvalidHold(GripError, ValueError):
    """A hold instruction that Pushpin would reject or misread (bad timeout, link...)."""


class ProtocolError(GripError, ValueError):
    """A WebSocket-over-HTTP body or header that does not follow the protocol."""


class SignatureError(GripError):
    """A ``Grip-Sig`` token that did not verify; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RejectConnection(GripError):
    """Raise from any hook to refuse the client (or ``self.reject()``).

    From a stream's or long-poll's hooks, or while a WebSocket is opening, the
    client gets ``status`` (403 by default) with ``reason``, and nothing is
    held: a WebSocket's handshake fails. Raised once a socket is open, it is
    closed with ``code`` (1008, policy violation, by default).
    """

    def __init__(self, reason: str = "", *, status: int = 403, code: int = 1008) -> None:
        super().__init__(reason or "connection rejected")
        self.reason = reason
        self.status = status
        self.code = code


class ChannelDenied(RejectConnection):
    """A channel this client may not receive: ``can_subscribe()`` said no.

    Answered with 403 (a refused handshake for a WebSocket); nothing is held.
    """

    def __init__(self, channel: str) -> None:
        super().__init__("Not allowed to subscribe to this channel.", status=403)
        self.channel = channel


class PublishFailure:
    """One proxy that refused or failed a publish of some channels."""

    __slots__ = ("channels", "proxy", "reason", "status")

    def __init__(self, proxy: str, channels: Sequence[str], reason: str, status: int | None = None) -> None:
        self.proxy = proxy
        self.channels = tuple(channels)
        self.reason = reason
        self.status = status

    def __str__(self) -> str:
        what = ", ".join(self.channels[:5])
        if len(self.channels) > 5:
            what += f" and {len(self.channels) - 5} more"
        status = f" (HTTP {self.status})" if self.status else ""
        return f"publish to {self.proxy} failed{status} for channel(s) {what}: {self.reason}"

    def __repr__(self) -> str:
        return f"<PublishFailure {self}>"


class PublishError(GripError):
    """A publish did not reach every proxy; ``failures`` lists which and why."""

    def __init__(self, failures: Sequence[PublishFailure]) -> None:
        self.failures = list(failures)
        super().__init__("; ".join(str(f) for f in self.failures))

    @property
    def channels(self) -> list[str]:
        seen: dict[str, None] = {}
        for failure in self.failures:
            seen.update(dict.fromkeys(failure.channels))
        return list(seen)


class PublishQueueFull(PublishError):
    """The non-blocking publish queue stayed full for ``GRIP_PUBLISH_TIMEOUT`` seconds."""
