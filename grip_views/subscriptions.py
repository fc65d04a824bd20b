"""The one subscription policy: which channels a request is held on, and who may.

Every realtime view, plain (:mod:`grip_views.views`) or DRF
(:mod:`grip_views.rest_framework`), inherits :class:`SubscriptionMixin` and
calls :meth:`~SubscriptionMixin.get_channels`: ``channels_for()`` names the
channels, ``can_subscribe(channel)`` allows each, and a single denied channel
refuses the request (:class:`~grip_views.exceptions.ChannelDenied`, a 403).
A WebSocket's later ``subscribe()`` goes through the same ``can_subscribe``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from .exceptions import ChannelDenied
from .protocol.instructions import Channel, ChannelLike, as_channels

logger = logging.getLogger(__name__)


async def _await(value: Any) -> Any:
    return await value


class SubscriptionMixin:
    """Channels, their authorization, and how hooks' results are read.

    Set ``channels`` for the static case, or override :meth:`channels_for`;
    override :meth:`can_subscribe` to decide per channel. Both read
    ``self.request``, ``self.args`` and ``self.kwargs``.
    """

    #: Channels this view holds its clients on.
    channels: ClassVar[Sequence[ChannelLike]] = ()
    #: Whether a client is always held on channels (False for WebSockets,
    #: which may live without any).
    channels_required: ClassVar[bool] = True
    #: True on the ``Async*`` view classes: their hooks may be ``async def``.
    async_hooks: ClassVar[bool] = False

    request: HttpRequest
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def channels_for(self) -> Iterable[ChannelLike]:
        """The channels to subscribe this client to; ``channels`` by default.

        Return names or :class:`~grip_views.Channel` objects (with ``prev_id``
        for a reliable hold). ``GRIP_PREFIX`` is added later, once, so never
        include it here.
        """
        return self.channels

    def can_subscribe(self, channel: Channel) -> bool:
        """Whether this request's client may receive ``channel`` (unprefixed).

        Every subscription passes here first: a stream's or long-poll's
        channels, a socket's channels on open and any it joins later. A denied
        channel is never sent to the proxy. Allows everything by default.
        """
        return True

    def get_channels(self) -> tuple[Channel, ...]:
        """The channels of this request's hold, each allowed by :meth:`can_subscribe`.

        Raises :class:`~grip_views.exceptions.InvalidChannel` for a name that
        cannot be a channel (a 400) and
        :class:`~grip_views.exceptions.ChannelDenied` for the first denied one
        (a 403). An empty tuple means ``channels_for()`` chose none: answer
        without a hold.
        """
        channels = as_channels(self.awaited(self.channels_for()))
        if not channels and self.channels_required:
            cls = type(self)
            if cls.channels_for is SubscriptionMixin.channels_for:
                raise ImproperlyConfigured(
                    f"{cls.__qualname__} has no channels to hold on: set `channels` or override "
                    "channels_for()."
                )
            logger.warning("grip_views: %s: channels_for() returned no channel", cls.__qualname__)
            return channels
        if type(self).can_subscribe is not SubscriptionMixin.can_subscribe:
            for channel in channels:
                self.check_subscribe(channel)
        return channels

    def check_subscribe(self, channel: Channel) -> None:
        """Raise :class:`~grip_views.exceptions.ChannelDenied` unless ``channel`` is allowed."""
        if not self.awaited(self.can_subscribe(channel)):
            logger.info("grip_views: %s denied channel %r", type(self).__qualname__, channel.name)
            raise ChannelDenied(channel.name)

    def awaited(self, value: Any) -> Any:
        """A hook's result; awaited on the event loop when the hook is ``async def``.

        The views' flows run synchronously (in Django's sync thread under
        ASGI, so sync hooks may use the ORM). On an ``Async*`` class an
        ``async def`` hook returns a coroutine, which runs here on the event
        loop; on any other class it is a mistake, said as such.
        """
        # Most hooks return None or a plain value: answer those without
        # inspect.isawaitable(), which costs ~0.5 µs a call (per message on a socket).
        if value is None or not hasattr(type(value), "__await__"):
            return value
        if not self.async_hooks:
            name = getattr(value, "__qualname__", "a hook")
            close = getattr(value, "close", None)
            if close is not None:
                close()  # never awaited: no "coroutine was never awaited" warning
            raise ImproperlyConfigured(
                f"{name}() is async def, but {type(self).__qualname__} runs hooks synchronously: "
                "subclass the Async* view (e.g. AsyncWebSocketView) for async hooks."
            )
        return async_to_sync(_await)(value)
