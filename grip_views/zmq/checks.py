"""System checks of the ZeroMQ proxies (run from :func:`grip_views.checks.check_zmq`)."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.checks import CheckMessage, Error

from ..conf import Proxy, grip_settings
from ..exceptions import GripConfigurationError
from ..publishing import HttpPublisher
from .conf import zmq_endpoints
from .publisher import ZmqPublisher

BACKEND = "grip_views.zmq.ZmqPublisher"


def check_zmq_proxies(proxies: Sequence[Proxy]) -> list[CheckMessage]:
    """Each ZeroMQ address is one, at most one binds, and the publisher reads them."""
    messages: list[CheckMessage] = []
    try:
        zmq_endpoints(proxies)
    except GripConfigurationError as exc:
        messages.append(
            Error(
                str(exc),
                hint="control_zmq_push_uri is a Pushpin's push_in_spec, control_zmq_pub_uri its "
                "bound push_in_sub_specs, control_zmq_pub_bind the address every Pushpin's SUB "
                "connects to (push_in_sub_connect=true).",
                id="grip_views.E014",
            )
        )
    try:
        backend = grip_settings.publish_backend
    except GripConfigurationError:
        return messages  # E005
    # A backend of the user's own (the in-memory one of tests...) is theirs to choose.
    if issubclass(backend, HttpPublisher) and not issubclass(backend, ZmqPublisher):
        names = ", ".join(p.source for p in proxies)
        messages.append(
            Error(
                f"{names} are reached over ZeroMQ, but GRIP_PUBLISH_BACKEND is "
                f"{backend.__module__}.{backend.__qualname__}, which publishes over HTTP only: "
                "they would get no publish.",
                hint=f"Set GRIP_PUBLISH_BACKEND = {BACKEND!r} (it publishes over HTTP to the others).",
                id="grip_views.E015",
            )
        )
    return messages
