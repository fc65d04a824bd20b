"""Class-based realtime views: streams, Server-Sent Events, long-polls, WebSockets.

Each view answers one short HTTP request from the proxy; the proxy holds the
client's connection. Views keep no state between requests, so any process
may answer any request, and a view may be called twice for one client
(Pushpin re-requests a long-poll when a channel gets its first subscriber).

Hooks take ``(request, *args, **kwargs)`` like Django's handler methods, and
``self.request``, ``self.args`` and ``self.kwargs`` are set too. A hook may be
``async def``: the view then runs as an async view under ASGI; its flow runs
in Django's sync thread (so sync hooks may use the ORM) and awaits each async
hook on the event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.decorators import classonlymethod
from django.utils.functional import classproperty
from django.views import View
from gripcontrol import HttpResponseFormat, HttpStreamFormat, WebSocketMessageFormat

from .conf import grip_settings
from .exceptions import InvalidChannel, RejectConnection
from .http import GripInfo, set_hold
from .origins import origin_allowed
from .protocol.instructions import Channel, ChannelLike, as_channels, make_hold
from .protocol.sse import format_comment, format_event
from .protocol.websocket import WebSocketContext, parse_close_payload
from .publishing import publish as _publish

logger = logging.getLogger(__name__)

_Args = tuple[Any, ...]
_Kwargs = dict[str, Any]

#: The names of each view class's ``async def`` hooks, looked up once per class
#: (a plain dict: view classes live as long as the URLconf that holds them).
_ASYNC_HOOKS: dict[type, frozenset[str]] = {}


def _async_hooks(cls: type[GripView]) -> frozenset[str]:
    try:
        return _ASYNC_HOOKS[cls]
    except KeyError:
        names = frozenset(n for n in cls.hook_names if iscoroutinefunction(getattr(cls, n, None)))
        _ASYNC_HOOKS[cls] = names
        return names


def _text_response(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


class GripView(View):
    """What every realtime view shares: channels, channel authorization, hook running.

    Set ``channels`` for the static case, or override :meth:`channels_for`.
    """

    #: Channels this view subscribes its clients to.
    channels: ClassVar[Sequence[ChannelLike]] = ()

    #: Hooks that may be ``async def``; if any is, the view runs as async.
    hook_names: ClassVar[tuple[str, ...]] = ("channels_for", "can_subscribe", "on_open")

    request: HttpRequest

    @classproperty
    def view_is_async(cls) -> bool:  # noqa: N805 - as Django spells it
        return bool(_async_hooks(cls))  # type: ignore[arg-type]

    @classonlymethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., Any]:  # noqa: N805
        hooks = [n for n in cls.hook_names if n in _async_hooks(cls)]
        handlers = [
            m
            for m in cls.http_method_names
            if m != "options" and hasattr(cls, m) and not getattr(getattr(cls, m), "_grip_handler", False)
        ]
        if hooks and any(not iscoroutinefunction(getattr(cls, m)) for m in handlers):
            raise ImproperlyConfigured(
                f"{cls.__qualname__} has async hooks ({', '.join(hooks)}) but sync handlers "
                f"({', '.join(handlers)}): make those handlers async too."
            )
        return super().as_view(**initkwargs)  # type: ignore[no-any-return]

    # -- hooks -------------------------------------------------------------------
    def channels_for(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Iterable[ChannelLike]:
        """The channels to subscribe this client to; ``channels`` by default.

        Return names or :class:`~grip_views.Channel` objects (with ``prev_id``
        for a reliable hold). ``GRIP_PREFIX`` is added later, once.
        """
        return self.channels

    def can_subscribe(self, request: HttpRequest, channel: Channel) -> bool:
        """Whether this request's client may receive ``channel``.

        Every subscription passes here first: a stream's or long-poll's
        channels, a socket's channels on open and any it joins later. A denied
        channel is never sent to the proxy. Allows everything by default.
        """
        return True

    # -- machinery ---------------------------------------------------------------
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

    def _hook(self, name: str) -> Callable[..., Any]:
        """The hook ``name``, callable from the view's (sync) flow."""
        fn = getattr(self, name)
        names = _ASYNC_HOOKS.get(type(self))
        if names is None:
            names = _async_hooks(type(self))
        if names and name in names:
            return async_to_sync(fn)  # type: ignore[no-any-return]
        return fn  # type: ignore[no-any-return]

    def _run(self, flow: Callable[..., Any], request: HttpRequest, args: _Args, kwargs: _Kwargs) -> Any:
        """Run a flow: directly, or for a view with async hooks, as a coroutine.

        Flows are written once, synchronously. In an async view the flow runs
        in Django's sync thread (so sync hooks may use the ORM) and each
        ``async def`` hook is awaited on the event loop through ``async_to_sync``.
        """
        if _async_hooks(type(self)):
            return sync_to_async(flow)(request, args, kwargs)
        return flow(request, args, kwargs)

    def _channels(
        self, request: HttpRequest, args: _Args, kwargs: _Kwargs
    ) -> tuple[tuple[Channel, ...], bool]:
        """``(allowed channels, whether any was denied)``; raises ``InvalidChannel``."""
        wanted = as_channels(self._hook("channels_for")(request, *args, **kwargs))
        if type(self).can_subscribe is GripView.can_subscribe:
            return wanted, False  # nothing to ask: every channel is allowed
        can_subscribe = self._hook("can_subscribe")
        allowed = []
        for channel in wanted:
            if can_subscribe(request, channel):
                allowed.append(channel)
            else:
                logger.info("grip_views: %s denied channel %r", type(self).__qualname__, channel.name)
        return tuple(allowed), len(allowed) < len(wanted)

    def _as_response(self, value: Any, content_type: str) -> HttpResponseBase:
        if isinstance(value, HttpResponseBase):
            return value
        if value is None:
            value = b""
        return HttpResponse(value, content_type=content_type)

    def _hold_channels(
        self, request: HttpRequest, args: _Args, kwargs: _Kwargs
    ) -> tuple[Channel, ...] | HttpResponseBase:
        """The channels to hold on, or the response that refuses the request."""
        try:
            channels, denied = self._channels(request, args, kwargs)
        except InvalidChannel as exc:
            return _text_response(400, str(exc))
        if not channels:
            if denied:
                return _text_response(403, "Not allowed to subscribe to this channel.")
            if type(self).channels_for is GripView.channels_for:
                raise ImproperlyConfigured(
                    f"{type(self).__qualname__} has no channels to hold on: set `channels` or "
                    "override channels_for()."
                )
            # channels_for() chose no channel for this request: nothing to wait
            # for, so the client gets the first answer and no hold.
            logger.warning("grip_views: %s: channels_for() returned no channel", request.path)
        return channels


class GripStreamView(GripView):
    """HTTP streaming: answer with a first body, then the proxy appends what is
    published on the view's channels, for as long as the client stays.

    Override :meth:`on_open` for the first body; publish later chunks with
    :meth:`publish` (or :func:`grip_views.publish` with ``HttpStreamFormat``).
    """

    content_type: ClassVar[str] = "text/plain; charset=utf-8"
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

    def get_keep_alive(self) -> str | bytes | None:
        """The keep-alive data for this request; ``keep_alive`` by default."""
        return self.keep_alive

    def get_next_link(self) -> str | None:
        """The next link for this request; ``next_link`` by default."""
        return self.next_link

    def on_open(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """The first answer: a body (str or bytes) or a whole response.

        Runs once per client connection (and again when the proxy recovers a
        reliable stream). Raise ``PermissionDenied`` or return a response
        with another status to refuse; the hold is then not sent.
        """
        return self.initial_body

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._open_stream, request, args, kwargs)

    get._grip_handler = True  # type: ignore[attr-defined]
    # HEAD answers as GET, as Django's View.setup() arranges per request; said
    # once here instead.
    head = get

    def _open_stream(self, request: HttpRequest, args: _Args, kwargs: _Kwargs) -> HttpResponseBase:
        channels = self._hold_channels(request, args, kwargs)
        if isinstance(channels, HttpResponseBase):
            return channels
        response = self._as_response(self._hook("on_open")(request, *args, **kwargs), self.content_type)
        if (response.status_code != 200 and response.status_code != self.status) or not channels:
            return response  # the view refused, or chose no channel: no hold
        status = self.status
        set_hold(
            response,
            make_hold(
                "stream",
                channels,
                keep_alive=self.get_keep_alive(),
                keep_alive_interval=self.keep_alive_interval,
                next_link=self.get_next_link(),
                next_link_timeout=self.next_link_timeout,
                status=status if status != 200 else None,
            ),
        )
        return response

    @classmethod
    def publish(cls, channel: ChannelLike, content: str | bytes, **options: Any) -> None:
        """Append ``content`` to every stream held on ``channel``.

        ``options`` are those of :func:`grip_views.publish` (``id``, ``prev_id``,
        ``blocking``, ``on_commit``...).
        """
        _publish(channel, HttpStreamFormat(content), **options)

    @classmethod
    def publish_close(cls, channel: ChannelLike, **options: Any) -> None:
        """End every stream held on ``channel``."""
        _publish(channel, HttpStreamFormat(close=True), **options)


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

    def on_open(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """The first events sent on open; by default only ``retry`` when set."""
        if self.retry is None:
            return self.initial_body
        body = self.initial_body
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
    ) -> None:
        """Send one event to every ``EventSource`` on ``channel``.

        ``data`` that is not a string is sent as JSON; ``event_id`` becomes the
        browser's ``lastEventId``.
        """
        cls.publish(channel, format_event(data, event=event, id=event_id), **options)


class GripLongPollView(GripView):
    """Long-polling: answer at once when there is something to say, otherwise
    the proxy holds the request until a publish on the channels, or ``timeout``.

    :meth:`on_open` decides (return ``None`` to hold); :meth:`on_timeout` gives
    the answer sent when nothing was published in time. Safe to be called
    twice for one client: Pushpin re-requests when a channel gets its first
    subscriber.
    """

    hook_names: ClassVar[tuple[str, ...]] = ("channels_for", "can_subscribe", "on_open", "on_timeout")
    content_type: ClassVar[str] = "text/plain; charset=utf-8"
    #: Seconds the proxy holds the request (Pushpin's minimum is 5).
    timeout: ClassVar[int] = 55
    #: The body sent on timeout, unless :meth:`on_timeout` is overridden.
    timeout_body: ClassVar[str | bytes] = ""

    def get_timeout(self) -> int:
        """The hold's timeout for this request; ``timeout`` by default."""
        return self.timeout

    def on_open(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """What to answer right away (body or response), or ``None`` to hold.

        ``request.grip.last`` has the last ids the proxy saw, on a retry.
        """
        return None

    def on_timeout(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """The answer the proxy sends if nothing is published before the timeout."""
        return self.timeout_body

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._poll, request, args, kwargs)

    get._grip_handler = True  # type: ignore[attr-defined]
    # HEAD answers as GET, as Django's View.setup() arranges per request; said
    # once here instead.
    head = get

    def _poll(self, request: HttpRequest, args: _Args, kwargs: _Kwargs) -> HttpResponseBase:
        channels = self._hold_channels(request, args, kwargs)
        if isinstance(channels, HttpResponseBase):
            return channels
        now = self._hook("on_open")(request, *args, **kwargs)
        if now is not None:
            return self._as_response(now, self.content_type)
        response = self._as_response(self._hook("on_timeout")(request, *args, **kwargs), self.content_type)
        if channels:
            set_hold(response, make_hold("response", channels, timeout=self.get_timeout()))
        return response

    @classmethod
    def publish(
        cls,
        channel: ChannelLike,
        body: str | bytes,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> None:
        """Answer every request held on ``channel`` with ``body`` (in ``content_type``)."""
        all_headers = {"Content-Type": cls.content_type, **(headers or {})}
        _publish(channel, HttpResponseFormat(code=status, headers=all_headers, body=body), **options)


class WebSocketView(GripView):
    """A WebSocket, served statelessly over HTTP by the proxy.

    By default an opening connection is accepted and subscribed to the view's
    channels. Override :meth:`on_open` to refuse it (``self.reject()``), send
    greetings or set ``self.meta``; :meth:`on_message` for each message from
    the client; :meth:`on_close` for its end. Inside them, use ``send()``,
    ``subscribe()``, ``unsubscribe()``, ``detach()`` and ``close()``.
    """

    hook_names: ClassVar[tuple[str, ...]] = (
        "channels_for",
        "can_subscribe",
        "on_open",
        "on_message",
        "on_close",
    )
    http_method_names = ["post", "get", "options"]
    #: Origins allowed to open this socket besides the site's own hosts, added
    #: to ``GRIP_WEBSOCKET_ALLOWED_ORIGINS``; ``["*"]`` allows every site.
    allowed_origins: ClassVar[Sequence[str]] = ()

    def get_allowed_origins(self) -> Sequence[str]:
        """Extra page origins allowed to open this socket (see :mod:`grip_views.origins`)."""
        return [*(grip_settings.websocket_allowed_origins or ()), *self.allowed_origins]

    # -- hooks -------------------------------------------------------------------
    def on_open(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        """A client is connecting: refuse it with ``self.reject()``, or prepare it.

        After this hook the connection is accepted (unless you called
        ``self.accept()`` already, or closed it) and subscribed to
        :meth:`channels_for`.
        """

    def on_message(self, request: HttpRequest, message: Any, *args: Any, **kwargs: Any) -> None:
        """A message from the client: ``str`` for text, ``bytes`` for binary."""

    def on_close(self, request: HttpRequest, code: int | None, *args: Any, **kwargs: Any) -> None:
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

    def reject(self, reason: str = "", status: int = 403) -> None:
        """Refuse the connection (failed handshake with ``status``) or, once open, close it."""
        raise RejectConnection(reason, status=status)

    def send(self, text_data: str | bytes | None = None, bytes_data: bytes | None = None) -> None:
        """Send a message to this client: text (``str``) or binary (``bytes``).

        ``send("hi")``, ``send(b"\\x00")``, or Channels' spelling
        ``send(text_data=...)`` / ``send(bytes_data=...)``.
        """
        if bytes_data is None:
            if text_data is None:
                raise TypeError("send() takes exactly one of text_data or bytes_data")
            (self._ws or self.ws).send(text_data)
        elif text_data is not None:
            raise TypeError("send() takes exactly one of text_data or bytes_data")
        else:
            (self._ws or self.ws).send(bytes_data)

    def subscribe(self, channel: ChannelLike) -> bool:
        """Subscribe this client to ``channel`` if :meth:`can_subscribe` allows; say whether.

        A name that cannot be a channel (often a client's input) is refused the
        same way, so it never becomes a server error nor reaches the proxy.
        """
        try:
            (ch,) = as_channels(channel)
        except InvalidChannel as exc:
            logger.info("grip_views: %s refused channel: %s", type(self).__qualname__, exc)
            return False
        if not self._check_sync(self.can_subscribe(self.request, ch)):
            logger.info("grip_views: %s denied channel %r", type(self).__qualname__, ch.name)
            return False
        if not self.ws.grip_extension:
            logger.error("grip_views: cannot subscribe without the proxy's 'grip' WebSocket extension")
            return False
        self.ws.subscribe(ch)
        return True

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

    def _check_sync(self, value: Any) -> Any:
        if hasattr(value, "__await__"):
            raise ImproperlyConfigured(
                "subscribe() cannot await an async can_subscribe(); subscribe from a hook "
                "via channels_for() instead."
            )
        return value

    # -- dispatch ----------------------------------------------------------------
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _text_response(
            426, "This endpoint is a WebSocket: connect with a WebSocket client through the GRIP proxy."
        )

    get._grip_handler = True  # type: ignore[attr-defined]
    # HEAD answers as GET, as Django's View.setup() arranges per request; said
    # once here instead.
    head = get

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        ctx = self.grip.websocket
        if ctx is None:
            return _text_response(
                400, "Expected WebSocket-over-HTTP events (Content-Type: application/websocket-events)."
            )
        self._ws = ctx
        return self._run(self._handle_events, request, args, kwargs)

    post._grip_handler = True  # type: ignore[attr-defined]

    def _handle_events(self, request: HttpRequest, args: _Args, kwargs: _Kwargs) -> HttpResponseBase:
        ctx = self.ws
        receive = self._message_handler()
        for etype, content in ctx.events:
            if ctx.closed and etype != "CLOSE" and etype != "DISCONNECT":
                continue
            try:
                if etype == "TEXT":
                    try:
                        text = content.decode() if content is not None else ""
                    except UnicodeDecodeError:
                        ctx.close(1007, "invalid UTF-8")
                        continue
                    receive(request, text, *args, **kwargs)
                elif etype == "BINARY":
                    receive(request, content or b"", *args, **kwargs)
                elif etype == "OPEN":
                    refused = self._open(request, args, kwargs)
                    if refused is not None:
                        return refused
                elif etype == "PING":
                    ctx.pong(content)
                elif etype == "CLOSE":
                    code, _ = parse_close_payload(content)
                    self._hook("on_close")(request, code, *args, **kwargs)
                    if not ctx.closed:
                        ctx.close(
                            code
                            if code is not None
                            and 1000 <= code <= 4999
                            and code not in (1004, 1005, 1006, 1015)
                            else 1000
                        )
                elif etype == "DISCONNECT":
                    self._hook("on_close")(request, None, *args, **kwargs)
                    ctx.closed = True
            except RejectConnection as exc:
                if ctx.opening and not ctx.accepted:
                    return _text_response(exc.status, exc.reason or "WebSocket connection refused.")
                ctx.close(exc.code, exc.reason[:100])
        return HttpResponse()

    def _open(self, request: HttpRequest, args: _Args, kwargs: _Kwargs) -> HttpResponseBase | None:
        ctx = self.ws
        if not ctx.opening:
            return None  # an OPEN in the middle of a batch: not the protocol's, ignore
        if not origin_allowed(request, self.get_allowed_origins()):
            logger.warning(
                "grip_views: refused WebSocket from origin %r on %s",
                request.META.get("HTTP_ORIGIN"),
                request.path,
            )
            return _text_response(403, "This page's origin may not open this WebSocket.")
        self._hook("on_open")(request, *args, **kwargs)
        if ctx.closed and not ctx.accepted:
            return _text_response(403, "WebSocket connection refused.")
        try:
            channels, denied = self._channels(request, args, kwargs)
        except InvalidChannel as exc:
            return _text_response(400, str(exc))
        if denied and not channels:
            return _text_response(403, "Not allowed to subscribe to this channel.")
        if channels and not ctx.grip_extension:
            logger.error("grip_views: %s needs the proxy's 'grip' WebSocket extension", request.path)
            return _text_response(
                400,
                "This WebSocket subscribes to channels, which needs the GRIP proxy's 'grip' "
                "WebSocket extension (Sec-WebSocket-Extensions: grip); the request did not offer it.",
            )
        ctx.accept(ctx.subprotocol)
        for channel in channels:
            ctx.subscribe(channel)
        return None

    def _message_handler(self) -> Callable[..., Any]:
        """What each received message is given to: ``on_message`` itself here."""
        return self._hook("on_message")

    # -- publishing --------------------------------------------------------------
    @classmethod
    def publish(cls, channel: ChannelLike, message: str | bytes, **options: Any) -> None:
        """Send ``message`` to every socket on ``channel`` (bytes as binary)."""
        binary = isinstance(message, (bytes, bytearray))
        _publish(channel, WebSocketMessageFormat(message, binary=binary), **options)

    @classmethod
    def publish_close(cls, channel: ChannelLike, code: int = 1000, **options: Any) -> None:
        """Close every socket on ``channel`` with ``code``."""
        _publish(channel, WebSocketMessageFormat(action="close", code=code), **options)


class JsonWebSocketView(WebSocketView):
    """A WebSocket whose messages are JSON: ``on_message`` gets the decoded value.

    A frame that is not valid JSON text is answered by :meth:`on_invalid_message`
    (an ``{"error": ...}`` message by default) and never reaches ``on_message``.
    """

    hook_names: ClassVar[tuple[str, ...]] = (
        *WebSocketView.hook_names,
        "on_invalid_message",
    )

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

    def on_invalid_message(
        self, request: HttpRequest, message: str | bytes, error: str, *args: Any, **kwargs: Any
    ) -> None:
        """A frame that is not JSON text arrived; tell the client what was wrong."""
        self.send_json({"error": error})

    def _message_handler(self) -> Callable[..., Any]:
        self._on_json = self._hook("on_message")
        return self._receive_json

    def _receive_json(self, request: HttpRequest, message: str | bytes, *args: Any, **kwargs: Any) -> None:
        if isinstance(message, bytes):
            self._hook("on_invalid_message")(
                request, message, "expected a JSON text message, got binary", *args, **kwargs
            )
            return
        try:
            value = self.decode_json(message)
        except ValueError as exc:
            self._hook("on_invalid_message")(request, message, f"invalid JSON: {exc}", *args, **kwargs)
            return
        self._on_json(request, value, *args, **kwargs)

    @classmethod
    def publish(cls, channel: ChannelLike, message: Any, **options: Any) -> None:
        """Send ``message``, encoded as JSON, to every socket on ``channel``."""
        _publish(channel, WebSocketMessageFormat(cls.encode_json(message)), **options)
