"""Class-based realtime views: streams, Server-Sent Events, long-polls, WebSockets.

Each view answers one short HTTP request from the proxy; the proxy holds the
client's connection. Views keep no state between requests, so any process
may answer any request, and a view may be called twice for one client
(Pushpin re-requests a long-poll when a channel gets its first subscriber).

Hooks take only their payload and read ``self.request``, ``self.args`` and
``self.kwargs``, as Django's ``get_queryset()`` does. Every view runs them in
one order::

    on_open()                  refuse (self.reject(), raise PermissionDenied),
                               or prepare: first body, greetings, self.meta
    channels_for()             the channels (named by what on_open may have set)
    can_subscribe(channel)     for each; one denied channel is a 403
    get_snapshot()             durable, no last id: the state at version V
    -> the hold (stream, long-poll) or accept + subscribe (WebSocket)
    on_message(message) ...    WebSocket: each message, then
    on_close(code)             its end (None: the client vanished)
    on_timeout()               long-poll: the answer if nothing is published

A refusal in ``on_open()`` therefore protects ``channels_for()``. For
``async def`` hooks use the ``Async*`` classes (:class:`AsyncWebSocketView`
and the like): their flow runs in Django's sync thread (so sync hooks may use
the ORM) and each async hook is awaited on the event loop.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views import View
from gripcontrol import HttpResponseFormat, HttpStreamFormat, WebSocketMessageFormat

from .conf import grip_settings
from .exceptions import InvalidChannel, RejectConnection
from .http import GripInfo, refusal_response, set_hold, text_response
from .origins import origin_allowed
from .protocol.instructions import Channel, ChannelLike, as_channels, make_hold
from .protocol.sse import format_comment, format_event
from .protocol.websocket import (
    CONTENT_TYPE,
    KeepAliveType,
    WebSocketContext,
    is_sendable_close_code,
    parse_close_payload,
)
from .publishing import filter_meta
from .publishing import publish as _publish
from .subscriptions import SubscriptionMixin

__all__ = [
    "AsyncEventStreamView",
    "AsyncGripLongPollView",
    "AsyncGripStreamView",
    "AsyncHooksMixin",
    "AsyncJsonWebSocketView",
    "AsyncWebSocketView",
    "EventStreamView",
    "GripLongPollView",
    "GripStreamView",
    "GripView",
    "JsonWebSocketView",
    "WebSocketView",
]

logger = logging.getLogger(__name__)


def _publish_durable(channel: ChannelLike, payload: dict[str, Any], **options: Any) -> int | None:
    from .durable import publish_durable

    meta = filter_meta(
        options.pop("meta", None),
        sender=options.pop("sender", None),
        skip_users=options.pop("skip_users", None),
        require_sub=options.pop("require_sub", None),
    )
    using = options.pop("using", None)
    # A durable publish is sent after commit and retried until accepted: these are implied.
    options.pop("blocking", None)
    options.pop("on_commit", None)
    if options:
        raise TypeError(f"unexpected options for a durable publish: {', '.join(options)}")
    if meta:
        payload["meta"] = dict(meta)
    return publish_durable(channel, payload, using=using)


class GripView(SubscriptionMixin, View):
    """What every realtime view shares: channels and their authorization
    (see :class:`~grip_views.subscriptions.SubscriptionMixin`), refusals, and
    ``request.grip``.

    :meth:`dispatch` is the one place a refusal becomes a response: a
    :class:`~grip_views.RejectConnection` (``self.reject()``) or
    ``PermissionDenied`` gets its status and a one-line reason, a channel name
    that cannot be a channel a 400.
    """

    #: The content type of bodies the hooks return as str or bytes.
    content_type: ClassVar[str] = "text/plain; charset=utf-8"
    #: Meta the proxy keeps with this client's subscriptions, read by Pushpin's
    #: filters: ``user`` (skip-self, skip-users), ``id_format`` (build-id), any
    #: name (var-subst). Sent as ``Grip-Set-Meta`` with a hold, as ``set-meta``
    #: control messages when a WebSocket opens.
    subscription_meta: ClassVar[Mapping[str, str]] = {}

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().dispatch(request, *args, **kwargs)
        except (RejectConnection, PermissionDenied, InvalidChannel) as exc:
            return refusal_response(exc)
        finally:
            # View.setup() binds self.head = self.get: a reference cycle (the view and
            # its bound method) that would leave the view, the request and everything
            # they hold to the garbage collector. Broken once the answer is made, they
            # are freed at once (bench a1: 8-11 k instructions less per request).
            self.__dict__.pop("head", None)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """405 with the ``Allow`` header and a one-line reason, as every grip_views refusal."""
        allowed = ", ".join(m.upper() for m in self.http_method_names if hasattr(self, m))
        response = text_response(405, f"{request.method} is not allowed here: use {allowed}.")
        response["Allow"] = allowed
        return response

    @property
    def grip(self) -> GripInfo:
        """``request.grip``: whether the request was proxied, last ids, features."""
        info = getattr(self.request, "grip", None)
        if info is None:
            raise ImproperlyConfigured(
                "request.grip is missing: add 'grip_views.middleware.GripMiddleware' to "
                "MIDDLEWARE (early in the list)."
            )
        return info  # type: ignore[no-any-return]

    def reject(self, reason: str = "", status: int = 403) -> None:
        """Refuse this client: it gets ``status`` and ``reason``, and is not held.

        On a WebSocket that is already open, the socket is closed with 1008.
        """
        raise RejectConnection(reason, status=status)

    def as_response(self, value: Any) -> HttpResponseBase:
        """A hook's answer as a response: a response stays, a body gets ``content_type``."""
        if isinstance(value, HttpResponseBase):
            return value
        if value is None or (type(value) is str and not value):
            # No body (the default timeout_body, initial_body): bytes, which Django
            # takes as they are, not a str it encodes after finding the charset.
            value = b""
        return HttpResponse(value, content_type=self.content_type)

    def get_snapshot(self) -> Any:
        """The current state, sent first to a client that comes without a last
        id, at version V; then it is held from V (durable views only).

        None (the default): no snapshot. Runs after :meth:`on_open` and
        :meth:`channels_for` (one channel), once V, the channel's last id, was
        read: so every change published up to V is in the state, and every
        one after V reaches the client after the snapshot. A change committed
        while the state is read may be in it and arrive as well: a duplicate,
        never a miss (apply changes idempotently, e.g. keyed by the object).
        An ``EventStreamView`` sends it as the event ``snapshot_event`` with
        ``id: V``, a ``WebSocketView`` as ``{"id": V, "event": snapshot_event,
        "data": state}`` before anything live, a ``GripLongPollView`` answers
        :meth:`~GripLongPollView.on_snapshot` at once. Values that are not a
        string are sent as JSON. See the README's "Snapshot, then changes".
        """
        return None

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        if not getattr(cls, "durable", False) and cls.get_snapshot is not GripView.get_snapshot:
            raise ImproperlyConfigured(
                f"{cls.__qualname__} defines get_snapshot() but is not durable: a snapshot's version "
                "is its channel's last id in the history. Set durable = True (and publish durably)."
            )
        return super().as_view(**initkwargs)

    def get_subscription_meta(self) -> Mapping[str, str]:
        """This client's subscription meta; ``subscription_meta`` by default.

        Runs after :meth:`on_open` (a WebSocket: on open, and again when it
        joins a ``skip-self`` channel or broadcasts without itself later).
        ``{"user": self.request.user.username}`` lets skip-users name the user.
        """
        return self.subscription_meta


class AsyncHooksMixin:
    """Makes a view async (under ASGI) so that its hooks may be ``async def``.

    The view's flow still runs synchronously, in Django's sync thread through
    ``sync_to_async``, so sync hooks and handlers may use the ORM; each async
    hook's coroutine is awaited on the event loop (see ``awaited()``).
    """

    async_hooks: ClassVar[bool] = True
    view_is_async: ClassVar[bool] = True  # type: ignore[misc]  # Django's is a classproperty

    async def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = await sync_to_async(super().dispatch)(request, *args, **kwargs)  # type: ignore[misc]
        if inspect.isawaitable(response):  # an async handler of the user's, or Django's options()
            response = await response
        return response


# --------------------------------------------------------------------- streams
class GripStreamView(GripView):
    """HTTP streaming: answer with a first body, then the proxy appends what is
    published on the view's channels, for as long as the client stays.

    Override :meth:`on_open` for the first body; publish later chunks with
    :meth:`publish` (or :func:`grip_views.publish` with ``HttpStreamFormat``).
    """

    #: The first body sent when the stream opens.
    initial_body: ClassVar[str | bytes] = ""
    #: Status the client sees (sent as ``Grip-Status`` when not 200).
    status: ClassVar[int] = 200
    #: Data the proxy sends when the stream is idle, and how often (>= 20 s).
    keep_alive: ClassVar[str | bytes | None] = None
    keep_alive_interval: ClassVar[int] = 20
    #: A URL the proxy fetches to recover missed messages (reliable streams).
    next_link: ClassVar[str | None] = None
    next_link_timeout: ClassVar[int | None] = None
    #: Publishes through this class are stored and sent after commit until
    #: accepted (see :mod:`grip_views.durable`); EventStreamView also resumes.
    durable: ClassVar[bool] = False

    def get_keep_alive(self) -> str | bytes | None:
        """The keep-alive data for this request; ``keep_alive`` by default."""
        return self.keep_alive

    def get_next_link(self) -> str | None:
        """The next link for this request; ``next_link`` by default."""
        return self.next_link

    def on_open(self) -> Any:
        """The first answer: a body (str or bytes) or a whole response.

        Runs first, once per client connection (and again when the proxy
        recovers a reliable stream). Refuse with ``self.reject()``, by raising
        ``PermissionDenied``, or by returning a response with another status:
        then nothing is held and :meth:`channels_for` does not run.
        """
        return self.initial_body

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = self.as_response(self.awaited(self.on_open()))
        if response.status_code != 200 and response.status_code != self.status:
            return response  # refused: no channels, no hold
        channels = self.get_channels()
        if channels:
            set_hold(
                response,
                make_hold(
                    "stream",
                    channels,
                    keep_alive=self.get_keep_alive(),
                    keep_alive_interval=self.keep_alive_interval,
                    next_link=self.get_next_link(),
                    next_link_timeout=self.next_link_timeout,
                    status=self.status if self.status != 200 else None,
                    meta=self.get_subscription_meta() or None,
                ),
            )
        return response

    @classmethod
    def publish(cls, channel: ChannelLike, content: str | bytes, **options: Any) -> int | None:
        """Append ``content`` to every stream held on ``channel``.

        ``options`` are those of :func:`grip_views.publish` (``id``, ``prev_id``,
        ``blocking``, ``on_commit``, ``durable``...); ``durable`` defaults to the
        class's ``durable``.
        """
        options.setdefault("durable", cls.durable)
        return _publish(channel, HttpStreamFormat(content), **options)

    @classmethod
    def publish_close(cls, channel: ChannelLike, **options: Any) -> None:
        """End every stream held on ``channel``."""
        _publish(channel, HttpStreamFormat(close=True), **options)

    @classmethod
    def publish_hint(cls, channel: ChannelLike, **options: Any) -> None:
        """Have the proxy fetch the ``next_link`` of every stream on ``channel`` and
        append what it answers (a hint: for data too big to publish, or best read
        fresh). A stream held without a next link gets nothing."""
        _publish(channel, HttpStreamFormat(action="hint"), **options)


class EventStreamView(GripStreamView):
    """Server-Sent Events: a stream a browser's ``EventSource`` reads unchanged.

    Publish with :meth:`publish_event`; every event is framed (``event:``,
    ``id:``, one ``data:`` line per line of data). Idle connections get an
    SSE comment every ``keep_alive_interval`` seconds.
    """

    content_type = "text/event-stream"
    keep_alive = format_comment()
    #: Milliseconds a browser waits before reconnecting (sent on open), or None.
    retry: ClassVar[int | None] = None
    #: With ``durable``: the event sent when the history cannot say what a
    #: client missed (reload your state), the query parameter a first
    #: connection may give its last id in, and the next link's timeout
    #: (Pushpin checks it that often while idle; short closes a race).
    reset_event: ClassVar[str] = "reset"
    last_event_id_param: ClassVar[str] = "last_event_id"
    resume_link_timeout: ClassVar[int] = 5
    #: With ``durable``: the event name of :meth:`get_snapshot`'s state.
    snapshot_event: ClassVar[str | None] = "snapshot"
    #: With ``durable``: the event sent after a resume's replay, with data
    #: ``{"last_id", "missed"}`` (how many events it caught up on); None: none.
    caught_up_event: ClassVar[str | None] = "caught-up"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not self.durable:
            return super().get(request, *args, **kwargs)
        from .resume import durable_stream

        return durable_stream(self)

    def on_open(self) -> Any:
        """The first events sent on open; by default only ``retry`` when set."""
        body = self.initial_body
        if self.retry is None:
            return body
        retry = f"retry: {int(self.retry)}\n\n"
        return retry + body if isinstance(body, str) else retry.encode() + body

    @classmethod
    def publish_event(
        cls,
        channel: ChannelLike,
        data: Any,
        *,
        event: str | None = None,
        event_id: str | None = None,
        **options: Any,
    ) -> int | None:
        """Send one event to every ``EventSource`` on ``channel``.

        ``data`` that is not a string is sent as JSON; ``event_id`` becomes the
        browser's ``lastEventId``. A durable publish (``durable=True``, or the
        class's ``durable``) gets its id from the history store and returns it.
        """
        if options.pop("durable", cls.durable):
            if event_id is not None:
                raise ValueError("a durable event gets its id from the history store: drop event_id=")
            return _publish_durable(channel, {"sse": format_event(data, event=event)}, **options)
        return cls.publish(channel, format_event(data, event=event, id=event_id), **options)


# --------------------------------------------------------------------- long-polling
class GripLongPollView(GripView):
    """Long-polling: answer at once when there is something to say, otherwise
    the proxy holds the request until a publish on the channels, or ``timeout``.

    :meth:`on_open` decides (return ``None`` to hold); :meth:`on_timeout` gives
    the answer sent when nothing was published in time. Safe to be called
    twice for one client: Pushpin re-requests when a channel gets its first
    subscriber.
    """

    #: Seconds the proxy holds the request (Pushpin's minimum is 5).
    timeout: ClassVar[int] = 55
    #: The body sent on timeout, unless :meth:`on_timeout` is overridden.
    timeout_body: ClassVar[str | bytes] = ""
    #: Publishes are stored and sent until accepted, ``?after=<id>`` is
    #: answered at once with what was missed (see :meth:`on_missed`), and a
    #: hold carries ``prev-id``: the id its answer was built at.
    durable: ClassVar[bool] = False
    after_param: ClassVar[str] = "after"

    def get_timeout(self) -> int:
        """The hold's timeout for this request; ``timeout`` by default."""
        return self.timeout

    def on_open(self) -> Any:
        """What to answer right away (body or response), or ``None`` to hold.

        Runs first. ``request.grip.last`` has the last ids the proxy saw, on a
        retry. A response that is not a success is a refusal: sent as it is,
        before :meth:`channels_for` runs. An answer sent now still needs the
        channels' :meth:`can_subscribe`.
        """
        return None

    def on_timeout(self) -> Any:
        """The answer the proxy sends if nothing is published before the timeout."""
        return self.timeout_body

    def on_missed(self, events: list[dict[str, str]], last_id: int, reset: bool) -> Any:
        """A durable poll's answer to ``?after=``: JSON ``{"last_id", "events": [{"id", "body"}]}``,
        with ``"reset": true`` (and no events) when the history cannot say what was missed."""
        from .resume import missed_json

        return HttpResponse(missed_json(events, last_id, reset), content_type="application/json")

    def on_snapshot(self, state: Any, last_id: int) -> Any:
        """A durable poll's answer without ``?after=`` when :meth:`get_snapshot` has
        a state: JSON ``{"last_id": "<V>", "snapshot": state}``; the client
        then polls with ``?after=<V>``."""
        body = json.dumps({"last_id": str(last_id), "snapshot": state}, separators=(",", ":"))
        return HttpResponse(body, content_type="application/json")

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        now = self.awaited(self.on_open())
        if isinstance(now, HttpResponseBase) and not 200 <= now.status_code < 300:
            return now  # refused: no channels, no hold
        channels = self.get_channels()
        if now is None and self.durable and channels:
            from .resume import durable_poll

            return durable_poll(self, channels)
        if now is not None:
            return self.as_response(now)
        response = self.as_response(self.awaited(self.on_timeout()))
        if channels:
            meta = self.get_subscription_meta() or None
            set_hold(response, make_hold("response", channels, timeout=self.get_timeout(), meta=meta))
        return response

    @classmethod
    def publish_hint(cls, channel: ChannelLike, **options: Any) -> None:
        """Have the proxy request this view again for every request held on
        ``channel``, and answer each with what :meth:`on_open` then returns (a
        hint: the news is read fresh, per client, instead of published)."""
        _publish(channel, HttpResponseFormat(action="hint"), **options)

    @classmethod
    def publish(
        cls,
        channel: ChannelLike,
        body: str | bytes,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> int | None:
        """Answer every request held on ``channel`` with ``body`` (in ``content_type``).

        Durable (``durable=True`` or the class's): stored first, and the answer
        carries an ``Event-Id`` header for the client's next ``?after=``.
        """
        all_headers = {"Content-Type": cls.content_type, **(headers or {})}
        if options.pop("durable", cls.durable):
            text = body.decode() if isinstance(body, bytes) else body
            lp = {"code": status, "headers": all_headers, "body": text}
            return _publish_durable(channel, {"lp": lp}, **options)
        return _publish(channel, HttpResponseFormat(code=status, headers=all_headers, body=body), **options)


# --------------------------------------------------------------------- WebSockets
class WebSocketView(GripView):
    """A WebSocket, served statelessly over HTTP by the proxy.

    By default an opening connection is accepted and subscribed to the view's
    channels. Override :meth:`on_open` to refuse it (``self.reject()``), send
    greetings or set ``self.meta``; :meth:`on_message` for each message from
    the client; :meth:`on_close` for its end. Inside them, use ``send()``,
    ``subscribe()``, ``unsubscribe()``, ``detach()`` and ``close()``.

    An exception in a hook of an open socket closes it with 1011 (as Channels
    does) and is logged with the connection id; the events after it in the
    same request are not handled, and the log says how many.
    """

    http_method_names = ["post", "get", "head", "options"]
    channels_required = False
    #: Origins allowed to open this socket besides the site's own hosts, added
    #: to ``GRIP_WEBSOCKET_ALLOWED_ORIGINS``; ``["*"]`` allows every site.
    allowed_origins: ClassVar[Sequence[str]] = ()
    #: Publishes are stored and sent until accepted, as ``{"id", "data"}``
    #: JSON; a client connecting with ``?last_id=<id>`` first gets what it
    #: missed (or ``{"id", "event": reset_event}`` if the history cannot say).
    durable: ClassVar[bool] = False
    last_id_param: ClassVar[str] = "last_id"
    reset_event: ClassVar[str] = "reset"
    snapshot_event: ClassVar[str] = "snapshot"
    #: With ``durable``: sent on open after the replay, as ``{"id": "<last id>",
    #: "event": caught_up_event, "missed": <count>}`` (a first connection gets
    #: the channel's last id and 0), with ``"more": true`` when the replay was
    #: one page of several; None: not sent.
    caught_up_event: ClassVar[str | None] = "caught-up"
    #: With ``durable``: the most bytes of missed messages replayed on one open
    #: (at least one message). The proxy drops, without a word, what of an
    #: accept it cannot buffer (Pushpin 1.36: about its ``client_buffer_size``),
    #: so a client further behind gets a page, then ``"more": true`` in the
    #: caught-up message, and reconnects with the page's last id for the next.
    replay_page_bytes: ClassVar[int] = 3000

    def get_allowed_origins(self) -> Sequence[str]:
        """Extra page origins allowed to open this socket (see :mod:`grip_views.origins`)."""
        return [*(grip_settings.websocket_allowed_origins or ()), *self.allowed_origins]

    #: Subscribe every channel with Pushpin's ``skip-self`` filter, naming this
    #: socket to the proxy on open (one ``set-meta``), so that
    #: ``broadcast(message, include_self=False)`` reaches all but this socket.
    skip_self: ClassVar[bool] = False
    #: What the proxy sends the client after ``keep_alive_interval`` idle
    #: seconds: str as a text frame, bytes as binary, or ``keep_alive_type``
    #: (``"ping"``, ``"pong"``, ``"text"``, ``"binary"``). None: nothing.
    keep_alive: ClassVar[str | bytes | None] = None
    keep_alive_interval: ClassVar[int] = 20
    keep_alive_type: ClassVar[KeepAliveType | None] = None
    #: Seconds (>= 20, Pushpin's minimum): the proxy sends this view a request
    #: for the socket at least this often, with no events when it is idle
    #: (``Keep-Alive-Interval``). None: only when something happens.
    request_interval: ClassVar[int | None] = None

    def get_keep_alive(self) -> str | bytes | None:
        """The keep-alive data sent on open; ``keep_alive`` by default."""
        return self.keep_alive

    def get_request_interval(self) -> int | None:
        """The ``Keep-Alive-Interval`` asked for on open; ``request_interval`` by default."""
        return self.request_interval

    # -- hooks -------------------------------------------------------------------
    def on_open(self) -> Any:
        """A client is connecting: refuse it with ``self.reject()``, or prepare it.

        Runs first, after the origin check. Then the connection is accepted
        (unless you called ``self.accept()`` already, or closed it) and
        subscribed to :meth:`channels_for`.
        """

    def on_message(self, message: Any) -> Any:
        """A message from the client: ``str`` for text, ``bytes`` for binary."""

    def on_close(self, code: int | None) -> Any:
        """The client closed (``code`` from its close frame) or vanished (``None``)."""

    # -- verbs -------------------------------------------------------------------
    _ws: WebSocketContext | None = None

    @property
    def ws(self) -> WebSocketContext:
        """The WebSocket-over-HTTP context of this request."""
        ctx = self._ws
        if ctx is None:
            ctx = self.grip.websocket
            if ctx is None:
                raise ImproperlyConfigured("not a WebSocket-over-HTTP request")
            self._ws = ctx
        return ctx

    @property
    def connection_id(self) -> str:
        """The proxy's id for this client connection."""
        return self.ws.connection_id

    @property
    def meta(self) -> dict[str, str]:
        """Per-connection values that persist across requests (kept by the proxy)."""
        return self.ws.meta

    def accept(self, subprotocol: str | None = None) -> None:
        """Accept the opening connection now (done for you after :meth:`on_open`)."""
        self.ws.accept(subprotocol)

    def send(
        self,
        data: str | bytes | None = None,
        /,
        *,
        text_data: str | None = None,
        bytes_data: bytes | None = None,
    ) -> None:
        """Send one message to this client: ``str`` as text, ``bytes`` as binary.

        ``send("hi")``, ``send(b"\\x00")``, or Channels' ``send(text_data="hi")``
        / ``send(bytes_data=b"\\x00")``. Exactly one argument, and a keyword's
        value must be of its type, else ``TypeError``.
        """
        if type(data) is str and text_data is None and bytes_data is None:
            (self._ws or self.ws).send(data)  # the usual call, once per message: checked in one step
            return
        given = (data is not None) + (text_data is not None) + (bytes_data is not None)
        if given != 1:
            raise TypeError("send() takes exactly one of data, text_data or bytes_data")
        if text_data is not None:
            if not isinstance(text_data, str):
                raise TypeError(f"send(text_data=...) takes str, got {type(text_data).__name__}")
            data = text_data
        elif bytes_data is not None:
            if not isinstance(bytes_data, (bytes, bytearray, memoryview)):
                raise TypeError(f"send(bytes_data=...) takes bytes, got {type(bytes_data).__name__}")
            data = bytes(bytes_data)
        elif not isinstance(data, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"send() takes str or bytes, got {type(data).__name__}")
        (self._ws or self.ws).send(data)  # type: ignore[arg-type]

    def subscribe(self, channel: ChannelLike) -> bool:
        """Subscribe this client to ``channel`` if :meth:`can_subscribe` allows; say whether.

        A name that cannot be a channel (often a client's input) is refused the
        same way, so it never becomes a server error nor reaches the proxy.
        From an ``async def`` hook with an async ``can_subscribe``, use
        :meth:`asubscribe`.
        """
        ch = self._as_channel(channel)
        return ch is not None and self._subscribe_if(ch, self.awaited(self.can_subscribe(ch)))

    async def asubscribe(self, channel: ChannelLike) -> bool:
        """:meth:`subscribe` for ``async def`` hooks: awaits an async ``can_subscribe``."""
        ch = self._as_channel(channel)
        if ch is None:
            return False
        allowed = self.can_subscribe(ch)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        return self._subscribe_if(ch, allowed)

    def unsubscribe(self, channel: ChannelLike) -> None:
        """Stop sending ``channel``'s messages to this client."""
        try:
            self.ws.unsubscribe(channel)
        except InvalidChannel:
            pass  # never a channel, so never subscribed

    def detach(self) -> None:
        """Stop the proxy forwarding this client's later messages to the app."""
        self.ws.detach()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with ``code``."""
        self.ws.close(code, reason)

    def disconnect(self) -> None:
        """Drop the client's connection now, without a close handshake (it sees 1006)."""
        self.ws.disconnect()

    def set_subscription_meta(self, name: str, value: str | None) -> None:
        """Change one entry of the subscription meta that Pushpin's filters read
        (``None`` removes it); see :meth:`get_subscription_meta` for the open."""
        self.ws.set_subscription_meta(name, value)

    def set_session(self, session_id: str | None) -> None:
        """Tell the proxy which session this connection belongs to (Pushpin's
        ``session`` control message: for its session store and stats)."""
        self.ws.set_session(session_id)

    def send_delayed(
        self, data: str | bytes, delay: int, *, message_type: KeepAliveType | None = None
    ) -> None:
        """Have the proxy send ``data`` to this client in ``delay`` seconds, unless
        :meth:`flush_delayed` sends it sooner. One per connection: a second
        call sends the waiting one at once (Pushpin cannot cancel it)."""
        self.ws.send_delayed(data, delay, message_type=message_type)

    def flush_delayed(self) -> None:
        """Send the message of :meth:`send_delayed` now."""
        self.ws.flush_delayed()

    def broadcast(
        self,
        message: Any,
        *,
        channel: ChannelLike | Iterable[ChannelLike] | None = None,
        include_self: bool = True,
        **options: Any,
    ) -> None:
        """Send ``message`` to every socket on ``channel`` (default: this view's
        :meth:`channels_for`), encoded as :meth:`publish` does.

        ``include_self=False``: everyone but this socket, as Channels'
        ``group_send`` minus self or Laravel's ``toOthers()``. "Self" is this
        connection, not the user's other tabs; it is every socket of a user
        when :meth:`get_subscription_meta` names a ``user``. The proxy does the
        skipping (Pushpin's ``skip-self`` filter), so the socket must have
        subscribed with it: set ``skip_self = True`` (or subscribe
        ``Channel(name, filters=("skip-self",))`` and pass that Channel).
        ``options`` are those of :func:`grip_views.publish`.
        """
        channels = as_channels(self.awaited(self.channels_for()) if channel is None else channel)
        if not include_self:
            unfiltered = [c.name for c in channels if not self.skip_self and "skip-self" not in c.filters]
            if unfiltered:
                raise ImproperlyConfigured(
                    f"{type(self).__qualname__}.broadcast(include_self=False) to {', '.join(unfiltered)}: "
                    "the socket is not subscribed with Pushpin's skip-self filter, so it would get its own "
                    "message. Set skip_self = True on the view, or subscribe "
                    "Channel(name, filters=('skip-self',)) and pass that Channel."
                )
            options["sender"] = self._named_self().sender_id
        for ch in channels:
            type(self).publish(ch, message, **options)

    def _named_self(self) -> WebSocketContext:
        """The context, told who "self" is for skip-self (the subscription meta ``user``)."""
        ctx = self.ws
        ctx.skip_self = self.skip_self
        if ctx.self_user is None:
            ctx.self_user = self.get_subscription_meta().get("user")
        return ctx

    def _connect(self, ctx: WebSocketContext) -> None:
        """On open, what the proxy keeps for the connection: subscription meta,
        skip-self, keep-alive and Keep-Alive-Interval, each only when set."""
        meta = self.get_subscription_meta()
        for name, value in meta.items():
            ctx.set_subscription_meta(name, value)
        if self.skip_self:
            ctx.skip_self = True
        keep_alive = self.get_keep_alive()
        if keep_alive is not None:
            ctx.keep_alive(keep_alive, self.keep_alive_interval, message_type=self.keep_alive_type)
        interval = self.get_request_interval()
        if interval is not None:
            ctx.set_request_interval(interval)

    def _as_channel(self, channel: ChannelLike) -> Channel | None:
        try:
            (ch,) = as_channels(channel)
        except (InvalidChannel, ValueError) as exc:
            logger.info("grip_views: %s refused channel: %s", type(self).__qualname__, exc)
            return None
        return ch

    def _subscribe_if(self, channel: Channel, allowed: bool) -> bool:
        if not allowed:
            logger.info("grip_views: %s denied channel %r", type(self).__qualname__, channel.name)
            return False
        if not self.ws.grip_extension:
            logger.error("grip_views: cannot subscribe without the proxy's 'grip' WebSocket extension")
            return False
        if self.skip_self or "skip-self" in channel.filters:
            return self._named_self().subscribe(channel)
        return self.ws.subscribe(channel)

    # -- dispatch ----------------------------------------------------------------
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return text_response(
            426, "This endpoint is a WebSocket: connect with a WebSocket client through the GRIP proxy."
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        ctx = self.grip.websocket
        if ctx is None:
            return text_response(
                400, "Expected WebSocket-over-HTTP events (Content-Type: application/websocket-events)."
            )
        self._ws = ctx
        events = ctx.events
        for index, (etype, content) in enumerate(events):
            if ctx.closed and etype != "CLOSE" and etype != "DISCONNECT":
                continue
            try:
                self.handle_event(etype, content)
            except Exception as exc:
                if ctx.opening and not ctx.accepted:
                    raise  # a refused handshake (dispatch answers it), or a server error
                if isinstance(exc, RejectConnection):
                    ctx.close(exc.code, exc.reason[:100])
                    continue
                logger.exception(
                    "grip_views: %s failed on %s event of connection %s; closed with 1011",
                    type(self).__qualname__,
                    etype,
                    ctx.connection_id,
                )
                ctx.close(1011, "internal error")
                unhandled = len(events) - index - 1
                if unhandled:
                    logger.error(
                        "grip_views: %d later events of connection %s were not handled",
                        unhandled,
                        ctx.connection_id,
                    )
                break
        # The middleware writes the events body (and this content type) once the view is done.
        return HttpResponse(content_type=CONTENT_TYPE)

    def handle_event(self, etype: str, content: bytes | None) -> None:
        """Handle one WebSocket-over-HTTP event: the protocol's part, then the hook."""
        # A message first (the usual event), then the protocol's events, each ending here.
        if etype == "TEXT":
            try:
                message: str | bytes = content.decode() if content is not None else ""
            except UnicodeDecodeError:
                self.ws.close(1007, "invalid UTF-8")
                return
        elif etype == "BINARY":
            message = content or b""
        elif etype == "OPEN":
            self.open()
            return
        else:
            ctx = self._ws or self.ws  # post() has set it: no property call
            if etype == "PING":
                ctx.pong(content)
            elif etype == "CLOSE":
                code, _ = parse_close_payload(content)
                self.awaited(self.on_close(code))
                if not ctx.closed:
                    ctx.close(code if code is not None and is_sendable_close_code(code) else 1000)
            elif etype == "DISCONNECT":
                self.awaited(self.on_close(None))
                ctx.closed = True
            return
        result = self.receive(message)
        # Per message: the usual None skips the awaited() call (ws_text100: 2% of its instructions).
        if result is not None:
            self.awaited(result)

    def open(self) -> None:
        """An OPEN event: origin check, :meth:`on_open`, channels, accept, subscribe."""
        ctx = self.ws
        if not ctx.opening:
            return  # an OPEN in the middle of a batch: not the protocol's, ignore
        request = self.request
        if not origin_allowed(request, self.get_allowed_origins()):
            logger.warning(
                "grip_views: refused WebSocket from origin %r on %s",
                request.META.get("HTTP_ORIGIN"),
                request.path,
            )
            raise RejectConnection("This page's origin may not open this WebSocket.")
        self.awaited(self.on_open())
        if ctx.closed and not ctx.accepted:
            raise RejectConnection("WebSocket connection refused.")
        channels = self.get_channels()
        if channels and not ctx.grip_extension:
            logger.error("grip_views: %s needs the proxy's 'grip' WebSocket extension", request.path)
            raise RejectConnection(
                "This WebSocket subscribes to channels, which needs the GRIP proxy's 'grip' "
                "WebSocket extension (Sec-WebSocket-Extensions: grip); the request did not offer it.",
                status=400,
            )
        missed: list[str] = []
        if self.durable:
            from .resume import first_messages

            missed = first_messages(self, channels)
        self._connect(ctx)
        ctx.accept(ctx.subprotocol)
        for channel in channels:
            ctx.subscribe(channel)
        for message in missed:
            ctx.send(message)

    def receive(self, message: str | bytes) -> Any:
        """Give one message to :meth:`on_message` (JSON views decode it first)."""
        return self.on_message(message)

    # -- publishing --------------------------------------------------------------
    @classmethod
    def publish(cls, channel: ChannelLike, message: str | bytes, **options: Any) -> int | None:
        """Send ``message`` to every socket on ``channel`` (bytes as binary).

        Durable (``durable=True`` or the class's): ``message`` is sent as
        ``{"id": "<id>", "data": message}`` JSON text; the event's id is returned.
        """
        if options.pop("durable", cls.durable):
            return _publish_durable(channel, {"ws": message}, **options)
        binary = isinstance(message, (bytes, bytearray))
        return _publish(channel, WebSocketMessageFormat(message, binary=binary), **options)

    @classmethod
    def publish_close(cls, channel: ChannelLike, code: int = 1000, reason: str = "", **options: Any) -> None:
        """Close every socket on ``channel`` with ``code`` and ``reason``."""
        _publish(channel, WebSocketMessageFormat(action="close", code=code, reason=reason or None), **options)


class JsonWebSocketView(WebSocketView):
    """A WebSocket whose messages are JSON: ``on_message`` gets the decoded value.

    A frame that is not valid JSON text is answered by :meth:`on_invalid_message`
    (an ``{"error": ...}`` message by default) and never reaches ``on_message``.
    """

    def decode_json(self, text: str) -> Any:
        """Turn a text frame into a value; raise ``ValueError`` if it is not JSON."""
        return json.loads(text)

    @classmethod
    def encode_json(cls, content: Any) -> str:
        """Turn a value into a text frame."""
        return json.dumps(content, separators=(",", ":"))

    def send_json(self, content: Any) -> None:
        """Send ``content`` as a JSON text message."""
        self.send(text_data=self.encode_json(content))

    def on_invalid_message(self, message: str | bytes, error: str) -> Any:
        """A frame that is not JSON text arrived; tell the client what was wrong."""
        self.send_json({"error": error})

    def receive(self, message: str | bytes) -> Any:
        if isinstance(message, bytes):
            return self.on_invalid_message(message, "expected a JSON text message, got binary")
        try:
            value = self.decode_json(message)
        except ValueError as exc:
            return self.on_invalid_message(message, f"invalid JSON: {exc}")
        return self.on_message(value)

    @classmethod
    def publish(cls, channel: ChannelLike, message: Any, **options: Any) -> int | None:
        """Send ``message``, encoded as JSON, to every socket on ``channel``."""
        if options.pop("durable", cls.durable):
            return _publish_durable(channel, {"ws": message}, **options)
        return _publish(channel, WebSocketMessageFormat(cls.encode_json(message)), **options)


# --------------------------------------------------------------------- async hooks
class AsyncGripStreamView(AsyncHooksMixin, GripStreamView):  # type: ignore[misc]
    """:class:`GripStreamView` whose hooks may be ``async def``."""


class AsyncEventStreamView(AsyncHooksMixin, EventStreamView):  # type: ignore[misc]
    """:class:`EventStreamView` whose hooks may be ``async def``."""


class AsyncGripLongPollView(AsyncHooksMixin, GripLongPollView):  # type: ignore[misc]
    """:class:`GripLongPollView` whose hooks may be ``async def``."""


class AsyncWebSocketView(AsyncHooksMixin, WebSocketView):  # type: ignore[misc]
    """:class:`WebSocketView` whose hooks may be ``async def`` (Channels'
    ``AsyncWebsocketConsumer``). Use :meth:`asubscribe` from async hooks."""


class AsyncJsonWebSocketView(AsyncHooksMixin, JsonWebSocketView):  # type: ignore[misc]
    """:class:`JsonWebSocketView` whose hooks may be ``async def``."""
