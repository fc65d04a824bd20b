"""Presence on the views: :class:`PresenceMixin` and :class:`PresenceMembersView`.

Put :class:`PresenceMixin` first in the bases of a stream (``EventStreamView``,
``GripStreamView``) or WebSocket view (``WebSocketView``,
``JsonWebSocketView``): each client whose :meth:`~PresenceMixin.get_presence_info`
returns info is a member of the view's channels while it is connected.

* WebSocket: joins on OPEN, leaves on CLOSE and DISCONNECT; the proxy's
  periodic empty requests (``Keep-Alive-Interval``) are the heartbeats.
* Stream and SSE: joins when the stream opens. The proxy cannot say when the
  client leaves, so the hold carries a next link with ``timeout=`` the
  heartbeat: Pushpin fetches it every ``GRIP_PRESENCE_HEARTBEAT`` seconds for
  as long as the client is connected (and stops when it goes). The link is
  signed with ``SECRET_KEY`` over the view's path, the channels, the member
  and the connection, so no client can keep another's presence alive. When
  the client goes, its entry expires ``GRIP_PRESENCE_TTL`` after the last
  heartbeat and the sweep announces its ``leave``.

The joining client gets the current members first: a ``presence_state`` SSE
event or JSON message per channel; then ``join`` and ``leave`` of others.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views import View

from ..exceptions import InvalidChannel, RejectConnection
from ..http import get_hold, refusal_response, set_hold
from ..protocol.instructions import MIN_KEEP_ALIVE_INTERVAL, Channel, as_channels, make_hold
from ..protocol.sse import format_event
from ..resume import read_signed_link, signed_link
from ..subscriptions import SubscriptionMixin
from ..views import GripStreamView, GripView, WebSocketView
from . import tracking
from .base import Member
from .conf import presence_settings

__all__ = ["PRESENCE_PARAM", "PresenceMembersView", "PresenceMixin", "member_key", "members_json"]

#: The query parameter of a stream's heartbeat link.
PRESENCE_PARAM = "grip_presence"
_SALT = "grip_views.presence.heartbeat"
#: Seconds a heartbeat link stays valid; each heartbeat's answer carries a fresh one.
HEARTBEAT_LINK_MAX_AGE = 3600
#: The connection meta that says when a WebSocket's entries were last refreshed.
_REFRESHED_META = "presence"


def member_key(info: Mapping[str, Any], connection: str) -> str:
    """The member a connection belongs to: ``info["id"]``; without one, the connection itself."""
    value = info.get("id")
    return connection if value is None else str(value)


def state_message(channel: str, found: list[Member]) -> dict[str, Any]:
    """What a joining client gets first: every member of ``channel``."""
    return tracking.presence_message(
        "presence_state", channel, members=[m.as_json() for m in found], count=len(found)
    )


class PresenceMixin:
    """Makes the clients of a stream or WebSocket view members of its channels.

    Phoenix.Presence's semantics: connections whose info has the same ``"id"``
    are one member; ``join`` is published on a channel when a member's first
    connection arrives, ``leave`` when its last one goes (or expires).
    """

    _presence_channels: tuple[Channel, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not issubclass(cls, GripView):
            return
        if not issubclass(cls, (GripStreamView, WebSocketView)):
            raise ImproperlyConfigured(
                f"{cls.__qualname__}: PresenceMixin goes on a stream, SSE or WebSocket view "
                "(a long-poll's client is not connected between its requests)."
            )
        if issubclass(cls, GripStreamView) and cls.durable:
            raise ImproperlyConfigured(
                f"{cls.__qualname__}: PresenceMixin and durable = True both need the stream's next "
                "link; use presence on a stream that is not durable (or on a WebSocket)."
            )

    # -- hooks -------------------------------------------------------------------
    def get_presence_info(self) -> Mapping[str, Any] | None:
        """This client's member info (JSON), or None: not a member.

        Reads ``self.request``. By default a logged-in user's ``{"id", "username"}``
        and None for anonymous clients. Connections with the same ``"id"`` are one
        member; info without an ``"id"`` makes each connection a member of its own.
        Every member of the channel sees it: put nothing private in it.
        """
        user = getattr(self.request, "user", None)  # type: ignore[attr-defined]
        if user is None or not user.is_authenticated:
            return None
        return {"id": user.pk, "username": user.get_username()}

    @classmethod
    def members(cls, channel: str) -> list[Member]:
        """The members of ``channel`` now (:func:`grip_views.presence.members`)."""
        return tracking.members(channel)

    # -- shared ------------------------------------------------------------------
    def _presence_info(self) -> Mapping[str, Any] | None:
        info = self.awaited(self.get_presence_info())  # type: ignore[attr-defined]
        if info is None:
            return None
        try:
            json.dumps(info)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"{type(self).__qualname__}.get_presence_info() must return JSON-serializable info: {exc}"
            ) from None
        return info

    def _join(self, channels: list[str], connection: str, info: Mapping[str, Any]) -> list[dict[str, Any]]:
        key = member_key(info, connection)
        for channel in channels:
            tracking.join(channel, key, connection, info)
        return [state_message(channel, tracking.members(channel)) for channel in channels]

    def get_channels(self) -> tuple[Channel, ...]:
        channels: tuple[Channel, ...] = super().get_channels()  # type: ignore[misc]
        self._presence_channels = channels
        return channels

    # -- streams -----------------------------------------------------------------
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not isinstance(self, GripStreamView):
            return super().get(request, *args, **kwargs)  # type: ignore[misc, no-any-return]
        token = request.GET.get(PRESENCE_PARAM)
        if token is not None:
            return self._stream_heartbeat(token)
        response: HttpResponseBase = super().get(request, *args, **kwargs)  # type: ignore[misc]
        hold = get_hold(response)
        info = self._presence_info() if hold is not None else None
        if hold is None or info is None:
            return response
        if hold.next_link is not None:
            raise ImproperlyConfigured(
                f"{type(self).__qualname__} has a next link of its own; presence needs the stream's "
                "next link."
            )
        connection = "s-" + uuid.uuid4().hex
        names = [c.name for c in hold.channels]
        for state in self._join(names, connection, info):
            event = state.pop("event")
            response.content += format_event(state, event=event).encode()  # type: ignore[attr-defined]
        link = self._heartbeat_link(names, member_key(info, connection), connection, info)
        set_hold(
            response, dataclasses.replace(hold, next_link=link, next_link_timeout=presence_settings.heartbeat)
        )
        return response

    def _heartbeat_link(self, channels: list[str], key: str, connection: str, info: Mapping[str, Any]) -> str:
        data = {"c": channels, "k": key, "n": connection, "i": dict(info)}
        return signed_link(self.request.path, PRESENCE_PARAM, _SALT, data)  # type: ignore[attr-defined]

    def _stream_heartbeat(self, token: str) -> HttpResponseBase:
        """Pushpin fetching the heartbeat link of a stream that is still connected."""
        assert isinstance(self, GripStreamView)
        data = read_signed_link(token, self.request.path, _SALT, HEARTBEAT_LINK_MAX_AGE)
        channels, key, connection, info = data.get("c"), data.get("k"), data.get("n"), data.get("i")
        if not (
            isinstance(channels, list) and channels and isinstance(connection, str) and isinstance(info, dict)
        ):
            raise RejectConnection("This heartbeat link is not one this app makes.", status=403)
        if tracking.refresh(connection) < len(channels):
            self._join(channels, connection, info)  # expired meanwhile (the app was away): join again
        response = self.as_response(b"")
        hold = make_hold(
            "stream",
            as_channels(channels),
            keep_alive=self.get_keep_alive(),
            keep_alive_interval=self.keep_alive_interval,
            next_link=self._heartbeat_link(channels, str(key), connection, info),
            next_link_timeout=presence_settings.heartbeat,
        )
        set_hold(response, hold)
        return response

    # -- WebSockets --------------------------------------------------------------
    def get_request_interval(self) -> int | None:
        """The WebSocket heartbeat: ``GRIP_PRESENCE_HEARTBEAT`` (at least Pushpin's 20 s),
        or the view's ``request_interval`` if that is shorter."""
        own = super().get_request_interval()  # type: ignore[misc]
        beat = max(MIN_KEEP_ALIVE_INTERVAL, presence_settings.heartbeat)
        return beat if own is None else min(int(own), beat)

    def open(self) -> None:
        super().open()  # type: ignore[misc]
        ctx = self.ws  # type: ignore[attr-defined]
        if not ctx.accepted or ctx.closed or not self._presence_channels:
            return
        info = self._presence_info()
        if info is None:
            return
        names = [c.name for c in self._presence_channels]
        for state in self._join(names, ctx.connection_id, info):
            ctx.send(json.dumps(state, separators=(",", ":")))
        ctx.meta[_REFRESHED_META] = str(int(time.time()))

    def handle_event(self, etype: str, content: bytes | None) -> None:
        super().handle_event(etype, content)  # type: ignore[misc]
        if etype == "CLOSE" or etype == "DISCONNECT":
            tracking.leave(self.ws.connection_id)  # type: ignore[attr-defined]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response: HttpResponseBase = super().post(request, *args, **kwargs)  # type: ignore[misc]
        ctx = self._ws  # type: ignore[attr-defined]
        if ctx is not None and not ctx.opening and not ctx.closed:
            self._socket_heartbeat(ctx)
        return response

    def _socket_heartbeat(self, ctx: Any) -> None:
        """A request for an open socket (a keep-alive or a message): refresh its entries,
        at most once per half heartbeat (the connection meta says when it last did)."""
        now = int(time.time())
        last = ctx.meta.get(_REFRESHED_META, "")
        if last.isdigit() and now - int(last) < self.get_request_interval() / 2:  # type: ignore[operator]
            return
        if tracking.refresh(ctx.connection_id) == 0:
            info = self._presence_info()
            if info is None:
                return
            self._join([c.name for c in self.get_channels()], ctx.connection_id, info)
        ctx.meta[_REFRESHED_META] = str(now)


class PresenceMembersView(SubscriptionMixin, View):
    """``GET``: the members of the view's one channel as JSON,
    ``{"channel", "count", "members": [{"key", "info", "connections"}]}``.

    The channel and who may read it come from ``channels_for()`` and
    ``can_subscribe()``, as for the realtime views (a denied channel is a 403).
    """

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            channels = self.get_channels()
        except (RejectConnection, InvalidChannel) as exc:
            return refusal_response(exc)
        return JsonResponse(members_json(self, channels))


def members_json(view: object, channels: tuple[Channel, ...]) -> dict[str, Any]:
    """``{"channel", "count", "members"}`` of a members endpoint's one channel."""
    if len(channels) != 1:
        raise ImproperlyConfigured(
            f"{type(view).__qualname__}: channels_for() must return exactly one channel, not {len(channels)}."
        )
    channel = channels[0].name
    found = tracking.members(channel)
    return {"channel": channel, "count": len(found), "members": [m.as_json() for m in found]}
