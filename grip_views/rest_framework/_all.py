"""Realtime Django REST framework views: streams, Server-Sent Events and long-polls.

Mix a class into an ``APIView``, a generic view or a viewset; DRF's own
habits stay intact::

    class TodoViewSet(PublishChangesMixin, EventStreamMixin, GripLongPollMixin, ModelViewSet):
        queryset = Todo.objects.all()
        serializer_class = TodoSerializer
        permission_classes = [IsAuthenticated]
        version_field = "version"

- Authentication, permissions and throttles run in ``initial()`` as always,
  before anything is held: a client that fails them gets DRF's 401/403/429
  and is subscribed to nothing. The hold is attached in ``finalize_response()``
  and only to a successful response.
- The first answer is the view's own ``Response``, rendered by the negotiated
  renderer; published changes are rendered by the same renderers from the
  same serializer, so a client sees one representation throughout.
- ``Accept: text/event-stream`` is served (:class:`EventStreamRenderer`), not
  refused with 406; WebSocket-over-HTTP bodies have a parser
  (:class:`WebSocketEventsParser`), so touching ``request.data`` is no 415.

Each representation is held and published per renderer: JSON on the channel
itself, any other renderer on ``"<channel>@<format>"`` (see
:func:`renderer_channel`), so a JSON long-poll and an ``EventSource`` on the
same channel each get their own bytes. This is the only grip_views module that
imports DRF.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

try:
    from rest_framework import exceptions
    from rest_framework.parsers import BaseParser
    from rest_framework.renderers import BaseRenderer, JSONRenderer
    from rest_framework.response import Response
    from rest_framework.views import APIView
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "grip_views.rest_framework needs Django REST framework, which is not installed: "
        'pip install "grip-views[drf]"'
    ) from exc

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from gripcontrol import HttpResponseFormat, HttpStreamFormat

from ..exceptions import InvalidChannel, ProtocolError
from ..http import set_hold
from ..protocol.instructions import Channel, ChannelLike, Hold, as_channels
from ..protocol.sse import format_comment, format_event
from ..protocol.websocket import CONTENT_TYPE, decode_events
from ..publishing import publish
from ..views import JsonWebSocketView, WebSocketView

__all__ = [
    "EventStreamMixin",
    "EventStreamRenderer",
    "GripLongPollMixin",
    "GripMixin",
    "GripStreamMixin",
    "JsonWebSocketAPIView",
    "PublishChangesMixin",
    "WebSocketAPIView",
    "WebSocketEventsParser",
    "publish_data",
    "renderer_channel",
]

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from rest_framework.generics import GenericAPIView
    from rest_framework.request import Request
    from rest_framework.viewsets import ModelViewSet

    _ViewBase = GenericAPIView
    _ModelViewBase = ModelViewSet
else:
    _ViewBase = _ModelViewBase = object


# --------------------------------------------------------------------- renderers, parsers
class EventStreamRenderer(BaseRenderer):
    """Renders data as one Server-Sent Event whose ``data`` is the JSON of it.

    Listed by every grip mixin, so ``Accept: text/event-stream`` (what
    ``EventSource`` sends) or ``?format=event-stream`` is answered, not refused
    with 406. The event's name and id come from the renderer context keys
    ``sse_event`` and ``sse_id``.
    """

    media_type = "text/event-stream"
    format = "event-stream"
    charset = "utf-8"
    #: Renders the event's data.
    data_renderer_class: ClassVar[type[BaseRenderer]] = JSONRenderer
    #: What goes between two messages of a stream: events end themselves.
    stream_separator: ClassVar[bytes] = b""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        context = dict(renderer_context or {})
        renderer = self.data_renderer_class()
        text = renderer.render(data, renderer.media_type, context)
        if isinstance(text, bytes):
            text = text.decode(renderer.charset or "utf-8")
        return format_event(text, event=context.get("sse_event"), id=context.get("sse_id")).encode("utf-8")


class WebSocketEventsParser(BaseParser):
    """Parses a WebSocket-over-HTTP body into its list of events.

    Without it, anything touching ``request.data`` on a WebSocket request
    (a permission class, a throttle, your hook) would get DRF's 415.
    """

    media_type = CONTENT_TYPE

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        request = (parser_context or {}).get("request")
        ctx = getattr(request, "grip", None)
        if ctx is not None and ctx.websocket is not None:
            return list(ctx.websocket.events)
        try:
            return decode_events(stream.read() if stream is not None else b"")
        except ProtocolError as exc:
            raise exceptions.ParseError(f"Malformed WebSocket-events body: {exc}")


def _stream_separator(renderer: BaseRenderer) -> bytes:
    """What follows each message of a stream in ``renderer``'s format (a newline
    by default: a JSON stream is one document per line)."""
    return getattr(renderer, "stream_separator", b"\n")


def _content_type(renderer: BaseRenderer) -> str:
    # The header DRF's Response would send for this renderer.
    return f"{renderer.media_type}; charset={renderer.charset}" if renderer.charset else renderer.media_type


def _render(renderer: BaseRenderer, data: Any, context: Mapping[str, Any]) -> bytes:
    out = renderer.render(data, renderer.media_type, dict(context))
    return out.encode(renderer.charset or "utf-8") if isinstance(out, str) else bytes(out)


def _is_holdable(renderer: BaseRenderer) -> bool:
    # HTML pages (the browsable API) and form encodings are not realtime representations.
    media_type = renderer.media_type or ""
    return not media_type.startswith(("text/html", "multipart/"))


def renderer_channel(channel: ChannelLike, renderer: BaseRenderer) -> Channel:
    """The channel that carries ``channel``'s messages rendered by ``renderer``.

    JSON (format ``"json"``) uses the channel itself, so a plain
    :func:`grip_views.publish` of JSON reaches JSON clients; any other format
    gets ``"<channel>@<format>"`` (``"todos@event-stream"``).
    """
    (ch,) = as_channels(channel)
    fmt = getattr(renderer, "format", None) or "json"
    if fmt == "json":
        return ch
    return Channel(f"{ch.name}@{fmt}", ch.prev_id, ch.filters)


_SAME: Any = object()


def publish_data(
    channel: ChannelLike,
    data: Any,
    *,
    renderers: Sequence[BaseRenderer] | None = None,
    event: str | None = None,
    response: Any = _SAME,
    status: int = 200,
    renderer_context: Mapping[str, Any] | None = None,
    **options: Any,
) -> None:
    """Publish ``data`` (already serialized) on ``channel``, once per renderer.

    Streams held on the channel get ``data`` as one message (an SSE event
    named ``event`` for :class:`EventStreamRenderer`); long-polls held on it
    are answered with ``response`` (``data`` by default; ``None`` leaves them
    waiting) and ``status``. ``renderers`` defaults to JSON and SSE.
    ``options`` go to :func:`grip_views.publish` (``on_commit``, ``blocking``,
    ``id``, ``prev_id``, ``meta``).

    Everything is rendered now, in the caller; with ``on_commit=True`` it is
    sent after the transaction commits and dropped if it rolls back.
    """
    if renderers is None:
        renderers = [JSONRenderer(), EventStreamRenderer()]
    if response is _SAME:
        response = data
    for renderer in renderers:
        context = {**(renderer_context or {}), "sse_event": event}
        formats: list[Any] = [
            HttpStreamFormat(_render(renderer, data, context) + _stream_separator(renderer))
        ]
        if response is not None:
            body = _render(renderer, response, {**context, "sse_event": None})
            formats.append(
                HttpResponseFormat(code=status, headers={"Content-Type": _content_type(renderer)}, body=body)
            )
        publish(renderer_channel(channel, renderer), formats, **options)


# --------------------------------------------------------------------- mixins
class GripMixin(_ViewBase):
    """What every realtime DRF view shares: channels, their authorization, the hold.

    DRF's ``initial()`` runs first (negotiation, authentication, permissions,
    throttles); only then does :meth:`get_hold_mode` decide whether this
    request is to be held, and the channels are computed and checked with
    :meth:`can_subscribe`. ``finalize_response()`` attaches the hold, and only
    to a successful response for which :meth:`should_hold` agrees.

    Channels: set ``channels``, or override :meth:`channels_for`. A generic
    view over a queryset needs neither: a list is held on
    :meth:`list_channel` (``"app_label.model"``), a detail on
    :meth:`object_channel` (``"app_label.model.<lookup value>"``), the
    channels :class:`PublishChangesMixin` publishes to.
    """

    #: Channels this view holds its clients on.
    channels: ClassVar[Sequence[ChannelLike]] = ()
    #: Request methods that may be held.
    hold_methods: ClassVar[Sequence[str]] = ("GET",)
    #: Renderers a client may be held with and that changes are published in;
    #: None: the view's renderers but HTML and multipart ones.
    hold_renderer_classes: ClassVar[Sequence[type[BaseRenderer]] | None] = None

    #: ``"stream"`` or ``"response"`` while this request is to be held, else None.
    grip_hold_mode: str | None = None
    #: The authorized channels of this request's hold, for its renderer.
    grip_channels: tuple[Channel, ...] = ()

    # -- renderers -------------------------------------------------------------
    def get_renderers(self) -> list[BaseRenderer]:
        """The view's renderers, plus :class:`EventStreamRenderer` if missing."""
        renderers = list(super().get_renderers())
        if not any(isinstance(r, EventStreamRenderer) for r in renderers):
            renderers.append(EventStreamRenderer())
        return renderers

    def get_hold_renderers(self) -> list[BaseRenderer]:
        """Renderers a client may be held with (see ``hold_renderer_classes``)."""
        if self.hold_renderer_classes is not None:
            return [cls() for cls in self.hold_renderer_classes]
        return [r for r in self.get_renderers() if _is_holdable(r)]

    def get_publish_renderers(self) -> list[BaseRenderer]:
        """Renderers each published change is rendered with: every hold renderer."""
        return self.get_hold_renderers()

    def can_hold_with(self, renderer: BaseRenderer) -> bool:
        """Whether a client whose negotiated renderer is ``renderer`` may be held."""
        return any(type(r) is type(renderer) for r in self.get_hold_renderers())

    @property
    def default_response_headers(self) -> dict[str, str]:
        headers = dict(super().default_response_headers)
        # The same URL answers JSON or an event stream, by Accept.
        headers["Vary"] = "Accept"
        return headers

    # -- hooks -----------------------------------------------------------------
    def get_hold_mode(self, request: Request) -> str | None:
        """``"stream"``, ``"response"`` (long-poll) or None (answer normally).

        Runs after authentication, permissions and throttles passed. Each
        mixin answers for its own mode and asks ``super()`` otherwise.
        """
        return None

    def channels_for(self, request: Request, *args: Any, **kwargs: Any) -> Iterable[ChannelLike]:
        """The channels to hold this request on; ``channels``, else the model's."""
        if self.channels:
            return self.channels
        if self._model() is None:
            raise ImproperlyConfigured(
                f"{type(self).__qualname__} has no channels to hold on: set `channels`, "
                "override channels_for(), or set `queryset`."
            )
        if self._is_detail():
            return [self.object_channel(self.kwargs[self._lookup_kwarg()])]
        return [self.list_channel()]

    def can_subscribe(self, request: Request, channel: Channel) -> bool:
        """Whether this client may receive ``channel``; everything by default.

        Runs after DRF's permission checks, with ``request.user`` set. A
        denied channel is never held on: the client gets DRF's 403.
        """
        return True

    def should_hold(self, request: Request, response: Response) -> bool:
        """Whether this successful response is held (True), or sent as it is."""
        return True

    def get_hold(self, request: Request, response: Response) -> Hold | None:
        """The hold for this response, by its mode; each mixin builds its own."""
        return None

    # -- channel names -----------------------------------------------------------
    def list_channel(self) -> str:
        """The channel of the whole list: the model's label, ``"app_label.model"``."""
        model = self._model()
        if model is None:
            raise ImproperlyConfigured(f"{type(self).__qualname__} has no queryset to name channels after.")
        return str(model._meta.label_lower)

    def object_channel(self, lookup_value: Any) -> str:
        """The channel of one object, by its ``lookup_field`` value."""
        return f"{self.list_channel()}.{lookup_value}"

    # -- DRF's plug points --------------------------------------------------------
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Authentication, permissions and throttles passed: only now may we hold.
        mode = None
        if request.method in self.hold_methods and self.can_hold_with(request.accepted_renderer):
            mode = self.get_hold_mode(request)
        if mode is None:
            return
        try:
            wanted = as_channels(self.channels_for(request, *args, **kwargs))
        except InvalidChannel as exc:
            raise exceptions.ParseError(str(exc))
        if not wanted:
            raise ImproperlyConfigured(f"{type(self).__qualname__}.channels_for() returned no channel.")
        for channel in wanted:
            if not self.can_subscribe(request, channel):
                logger.info("grip_views: %s denied channel %r", type(self).__qualname__, channel.name)
                self.permission_denied(request, message="Not allowed to subscribe to this channel.")
        renderer = request.accepted_renderer
        self.grip_hold_mode = mode
        self.grip_channels = tuple(renderer_channel(c, renderer) for c in wanted)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if (
            self.grip_channels
            and isinstance(response, Response)
            and not response.exception
            and 200 <= response.status_code < 300
            and self.should_hold(request, response)
        ):
            hold = self.get_hold(request, response)
            if hold is not None:
                set_hold(response, hold)
        return response

    # -- publishing ---------------------------------------------------------------
    def publish_data(self, channel: ChannelLike, data: Any, **options: Any) -> None:
        """:func:`publish_data` with this view's publish renderers and context."""
        options.setdefault("renderers", self.get_publish_renderers())
        options.setdefault("renderer_context", {"view": self, "request": getattr(self, "request", None)})
        publish_data(channel, data, **options)

    # -- helpers ------------------------------------------------------------------
    def _model(self) -> type[models.Model] | None:
        queryset = getattr(self, "queryset", None)
        if queryset is None and hasattr(self, "get_queryset") and hasattr(self, "lookup_field"):
            try:
                queryset = self.get_queryset()
            except AssertionError:  # GenericAPIView without queryset
                return None
        return getattr(queryset, "model", None)

    def _lookup_kwarg(self) -> str:
        return str(getattr(self, "lookup_url_kwarg", None) or getattr(self, "lookup_field", "pk"))

    def _is_detail(self) -> bool:
        return self._lookup_kwarg() in (getattr(self, "kwargs", None) or {})


class GripStreamMixin(GripMixin):
    """Hold GETs as streams: the response is the first message, then every
    :meth:`publish_data` on the channels is appended, in the client's format.

    With JSON each message is one line (a newline follows each document);
    with :class:`EventStreamRenderer` each is one SSE event: the first named
    ``initial_event``, published ones named by their ``event``.
    """

    #: Renderer formats that open a stream; None: every hold renderer.
    stream_formats: ClassVar[Sequence[str] | None] = None
    #: The SSE event name of the first answer (None: a plain ``message``).
    initial_event: ClassVar[str | None] = None
    #: Data sent on an idle non-SSE stream, and how often (Pushpin's minimum is 20 s).
    #: SSE streams always get an SSE comment.
    keep_alive: ClassVar[str | bytes | None] = None
    keep_alive_interval: ClassVar[int] = 20

    def get_hold_mode(self, request: Request) -> str | None:
        fmt = getattr(request.accepted_renderer, "format", None)
        if self.stream_formats is None or fmt in self.stream_formats:
            return "stream"
        return super().get_hold_mode(request)

    def get_keep_alive(self, renderer: BaseRenderer) -> str | bytes | None:
        """Keep-alive data for a stream in ``renderer``'s format."""
        if isinstance(renderer, EventStreamRenderer):
            return format_comment()
        return self.keep_alive

    def get_initial_event(self) -> str | None:
        """The SSE event name of the first answer; ``initial_event`` by default."""
        return self.initial_event

    def get_renderer_context(self) -> dict[str, Any]:
        context = super().get_renderer_context()
        if self.grip_hold_mode == "stream":
            context["sse_event"] = self.get_initial_event()
        return context

    def get_hold(self, request: Request, response: Response) -> Hold | None:
        if self.grip_hold_mode != "stream":
            return super().get_hold(request, response)
        renderer = request.accepted_renderer
        separator = _stream_separator(renderer)
        if separator:
            response.add_post_render_callback(_append(separator))
        return Hold(
            "stream",
            self.grip_channels,
            keep_alive=self.get_keep_alive(renderer),
            keep_alive_interval=self.keep_alive_interval,
        )


def _append(separator: bytes) -> Callable[[Any], None]:
    def callback(response: Any) -> None:
        response.content = response.content + separator

    return callback


class EventStreamMixin(GripStreamMixin):
    """Serve ``EventSource`` clients a live stream, everyone else as before.

    A GET negotiated to ``text/event-stream`` (``Accept`` or
    ``?format=event-stream``) is held as an SSE stream; JSON clients get the
    view's normal answer.
    """

    stream_formats = ("event-stream",)


class GripLongPollMixin(GripMixin):
    """ "Wait for changes": a GET that names the last version the client has
    (``?after=<version>``) is answered at once if something is newer, else
    held until a change is published or ``timeout`` passes.

    On a generic view set ``version_field``, a model field that grows with
    every change (a counter, an ``auto_now`` timestamp, or ``"pk"`` for
    append-only data). A list then holds only the objects newer than the
    version (unpaginated, oldest first) and waits while there is none; a
    detail waits while its object is not newer. The held answer (sent on
    timeout) is that same response: an empty list, or the unchanged object.

    Safe to run twice for one client: Pushpin re-requests a long-poll when its
    channel gets a first subscriber.
    """

    #: Seconds the proxy holds the request (Pushpin's minimum is 5).
    timeout: ClassVar[int] = 55
    #: The query parameter carrying the last version the client has.
    version_param: ClassVar[str] = "after"
    #: The model field that grows with each change; see the class docstring.
    version_field: ClassVar[str | None] = None

    _grip_newer: bool | None = None

    def get_hold_mode(self, request: Request) -> str | None:
        if self.version_param in request.query_params:
            return "response"
        return super().get_hold_mode(request)

    def _changes_requested(self) -> bool:
        # Held or not (a browser on the browsable API), ?after= means "changes since".
        request = self.request
        return request.method in ("GET", "HEAD") and self.version_param in request.query_params

    def get_timeout(self) -> int:
        """The hold's timeout for this request; ``timeout`` by default."""
        return self.timeout

    def get_version(self) -> Any:
        """The client's last version, converted by ``version_field``; None if not sent.

        A value the field cannot take is DRF's 400 naming the parameter.
        """
        raw = self.request.query_params.get(self.version_param)
        if raw is None or self.version_field is None:
            return raw
        model = self._model()
        if model is None:
            return raw
        name = self.version_field
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        try:
            return field.to_python(raw)  # type: ignore[union-attr]
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({self.version_param: list(exc.messages)})

    def has_changes(self, request: Request, response: Response) -> bool:
        """Whether the response has something newer than the client's version.

        A detail knows whether its object is newer; anything else counts as
        new when its data is not empty. Override it for a plain ``APIView``.
        """
        if self._grip_newer is not None:
            return self._grip_newer
        data = response.data
        if isinstance(data, Mapping) and "results" in data:
            data = data["results"]
        return bool(data)

    def should_hold(self, request: Request, response: Response) -> bool:
        if self.grip_hold_mode != "response":
            return super().should_hold(request, response)
        return not self.has_changes(request, response)

    def get_hold(self, request: Request, response: Response) -> Hold | None:
        if self.grip_hold_mode != "response":
            return super().get_hold(request, response)
        return Hold("response", self.grip_channels, timeout=self.get_timeout())

    # -- generic views ------------------------------------------------------------
    def filter_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        queryset = super().filter_queryset(queryset)
        if self._changes_requested() and self.version_field and not self._is_detail():
            version = self.get_version()
            queryset = queryset.filter(**{f"{self.version_field}__gt": version}).order_by(self.version_field)
        return queryset

    def paginate_queryset(self, queryset: Any) -> Any:
        if self._changes_requested():
            return None  # a change feed is one list, shaped like what is published
        return super().paginate_queryset(queryset)

    def get_object(self) -> Any:
        obj = super().get_object()
        if self._changes_requested() and self.version_field:
            version = self.get_version()
            newer = type(obj)._default_manager.filter(pk=obj.pk, **{f"{self.version_field}__gt": version})
            self._grip_newer = newer.exists()
        return obj


class _Change(NamedTuple):
    """An object's representation and channels, taken before it changes or goes."""

    data: Any
    list_channels: Sequence[ChannelLike]
    object_channels: Sequence[ChannelLike]


class PublishChangesMixin(GripMixin, _ModelViewBase):
    """Publish each object created, updated or deleted through the view, after commit.

    ``perform_create``/``perform_update``/``perform_destroy`` publish the
    object serialized by the view's serializer, rendered by every publish
    renderer, to :meth:`list_channels_for` (long-polls get ``[object]``) and
    :meth:`object_channels_for` (long-polls get the object; 404 once it is
    deleted). Streams get it as an SSE event named ``created``, ``updated`` or
    ``deleted``. With ``publish_on_commit`` (the default) nothing is sent
    before the transaction commits, and nothing if it rolls back.

    Overriding ``perform_create()`` without calling ``super()`` (to pass
    ``serializer.save(owner=...)``) is fine: the ``create``/``update``/
    ``destroy`` actions publish whatever their ``perform_*()`` did not.
    """

    #: Send after the transaction commits (dropped on rollback).
    publish_on_commit: ClassVar[bool] = True
    #: Wait for the proxy (raising on failure) instead of queueing; the
    #: default, False, never fails a write because the proxy is down.
    publish_blocking: ClassVar[bool] = False

    _grip_published: bool = False
    _grip_saving: Any = None
    _grip_deleting: _Change | None = None

    # -- hooks ----------------------------------------------------------------------
    def list_channels_for(self, instance: Any) -> Sequence[ChannelLike]:
        """The list channels a change of ``instance`` is published to."""
        return [self.list_channel()]

    def object_channels_for(self, instance: Any) -> Sequence[ChannelLike]:
        """The channels of ``instance`` itself."""
        return [self.object_channel(getattr(instance, self.lookup_field))]

    def publish_change(self, instance: Any, event: str, data: Any = None) -> None:
        """Publish ``instance`` (or its already serialized ``data``) as ``event``."""
        change = self._change(instance, data)
        self._publish(change, event)

    # -- DRF's hooks ------------------------------------------------------------------
    def perform_create(self, serializer: Any) -> None:
        super().perform_create(serializer)
        self.publish_change(serializer.instance, "created", serializer.data)

    def perform_update(self, serializer: Any) -> None:
        super().perform_update(serializer)
        self.publish_change(serializer.instance, "updated", serializer.data)

    def perform_destroy(self, instance: Any) -> None:
        # Serialized and named first: the primary key is gone afterwards.
        change = self._grip_deleting or self._change(instance)
        super().perform_destroy(instance)
        self._publish(change, "deleted")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().create(request, *args, **kwargs)
        self._publish_missed("created")
        return response

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().update(request, *args, **kwargs)
        self._publish_missed("updated")
        return response

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().destroy(request, *args, **kwargs)
        self._publish_missed("deleted")
        return response

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)
        if "data" in kwargs:
            self._grip_saving = serializer  # what create/update save, if perform_* skips us
        return serializer

    def get_object(self) -> Any:
        obj = super().get_object()
        if self.request.method == "DELETE":
            self._grip_deleting = self._change(obj)
        return obj

    # -- machinery ----------------------------------------------------------------------
    def _change(self, instance: Any, data: Any = None) -> _Change:
        if data is None:
            data = self.get_serializer(instance).data
        return _Change(data, self.list_channels_for(instance), self.object_channels_for(instance))

    def _publish_missed(self, event: str) -> None:
        if self._grip_published:
            return
        if event == "deleted":
            if self._grip_deleting is not None:
                self._publish(self._grip_deleting, event)
            return
        serializer = self._grip_saving
        if serializer is not None and getattr(serializer, "instance", None) is not None:
            self.publish_change(serializer.instance, event, serializer.data)

    def _publish(self, change: _Change, event: str) -> None:
        self._grip_published = True
        options = {"on_commit": self.publish_on_commit, "blocking": self.publish_blocking, "event": event}
        deleted = event == "deleted"
        for channel in change.list_channels:
            # A list long-poll is answered with a list; a deletion does not wake it.
            self.publish_data(channel, change.data, response=None if deleted else [change.data], **options)
        for channel in change.object_channels:
            if deleted:
                gone = {"detail": str(exceptions.NotFound.default_detail)}
                self.publish_data(channel, change.data, response=gone, status=404, **options)
            else:
                self.publish_data(channel, change.data, **options)


# --------------------------------------------------------------------- WebSockets
class _APIWebSocketMixin:
    """What a WebSocket view needs from DRF: a parser for its bodies, no HTML."""

    def get_parsers(self) -> list[BaseParser]:
        return [WebSocketEventsParser(), *super().get_parsers()]  # type: ignore[misc]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # The proxy asks for application/websocket-events, which no renderer
        # offers: a refusal is rendered by the first renderer rather than a 406.
        return super().perform_content_negotiation(request, force=True)  # type: ignore[misc, no-any-return]

    def get_renderers(self) -> list[BaseRenderer]:
        # Refusals are read by the proxy, not shown in a browser: never render HTML.
        renderers = [r for r in super().get_renderers() if _is_holdable(r)]  # type: ignore[misc]
        return renderers or [JSONRenderer()]


class WebSocketAPIView(_APIWebSocketMixin, APIView, WebSocketView):  # type: ignore[misc]
    """A :class:`~grip_views.WebSocketView` behind DRF's authentication,
    permissions and throttles.

    Each WebSocket-over-HTTP request (the opening one and every batch of
    messages) passes ``initial()`` first: a client that fails gets DRF's
    401/403/429, which the proxy relays as a refused handshake, so it is never
    accepted nor subscribed. Hooks get DRF's ``Request`` (``request.user``),
    and ``request.data`` is the list of events, not a 415.
    """


class JsonWebSocketAPIView(_APIWebSocketMixin, APIView, JsonWebSocketView):  # type: ignore[misc]
    """:class:`WebSocketAPIView` whose messages are JSON (see :class:`~grip_views.JsonWebSocketView`)."""
