"""Mixins that make DRF views realtime: streams, SSE, long-polls, published changes.

Each mixin plugs into DRF's own points: ``initial()`` (after authentication,
permissions and throttles) decides whether and on which channels to hold,
through the same :meth:`~grip_views.subscriptions.SubscriptionMixin.get_channels`
policy the plain views use; ``finalize_response()`` attaches the hold, only to
a successful response; ``perform_create``/``perform_update``/``perform_destroy``
publish the change. Hooks take only their payload and read ``self.request``.

With ``durable = True`` the first answer is a snapshot at version V: V, the
hold channel's last id in the history, is read in ``initial()``, before the
view's own query runs, and the hold is from V (``prev-id``), so a change
committed between the query and the proxy's subscription still reaches the
client (see :func:`grip_views.resume.read_snapshot`); changes are published
durably, with ids.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework import exceptions
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from ..exceptions import ChannelDenied, InvalidChannel, RejectConnection
from ..http import refusal_response, set_hold
from ..protocol.instructions import Channel, ChannelLike, Hold
from ..protocol.sse import format_comment
from ..resume import NEXT_PARAM
from ..subscriptions import SubscriptionMixin
from .publishing import publish_data, renderer_channel
from .renderers import EventStreamRenderer, is_holdable, stream_separator

logger = logging.getLogger(__name__)

_warned: set[type] = set()


def _warn_unversioned(cls: type) -> None:
    """Once per class: a long-poll held without a version can miss a change."""
    if cls in _warned:
        return
    _warned.add(cls)
    logger.warning(
        "grip_views: %s holds long-polls without a version (durable = False): a change made between "
        "its query and the proxy's subscription is missed while another client waits on the channel "
        "(the client gets the timeout answer). Set durable = True, with changes published durably.",
        cls.__qualname__,
    )


#: The ``perform_*`` hook each changing action runs, by viewset action or by method.
_PERFORM_HOOKS = {
    "create": "perform_create",
    "update": "perform_update",
    "partial_update": "perform_update",
    "destroy": "perform_destroy",
}
_ACTION_OF_METHOD = {"POST": "create", "PUT": "update", "PATCH": "partial_update", "DELETE": "destroy"}

if TYPE_CHECKING:
    from rest_framework.generics import GenericAPIView as _ViewBase
else:
    _ViewBase = object

__all__ = [
    "EventStreamMixin",
    "GripLongPollMixin",
    "GripMixin",
    "GripStreamMixin",
    "PublishChangesMixin",
]


class GripMixin(SubscriptionMixin, _ViewBase):
    """What every realtime DRF view shares: channels, their authorization, the hold.

    DRF's ``initial()`` runs first (negotiation, authentication, permissions,
    throttles); only then does :meth:`get_hold_mode` decide whether this
    request is to be held, and :meth:`get_channels` names and authorizes the
    channels (a denied one is DRF's 403). ``finalize_response()`` attaches the
    hold, and only to a successful response for which :meth:`should_hold`
    agrees.

    Channels: set ``channels``, or override :meth:`channels_for`. A generic
    view over a queryset needs neither: a list is held on
    :meth:`list_channel` (``"app_label.model"``), a detail on
    :meth:`object_channel` (``"app_label.model.<lookup value>"``), the very
    channels :class:`PublishChangesMixin` publishes to: override those two to
    rename both sides at once.
    """

    #: Request methods that may be held.
    hold_methods: ClassVar[Sequence[str]] = ("GET",)
    #: Renderers a client may be held with and that changes are published in;
    #: None: the view's renderers but HTML and multipart ones.
    hold_renderer_classes: ClassVar[Sequence[type[BaseRenderer]] | None] = None

    request: Request

    #: Hold from the version the answer was built at, and publish changes
    #: durably (stored in the history, sent with ids): nothing published
    #: between the view's query and the proxy's subscription is lost.
    #: Everything published to the view's channels must then be durable.
    durable: ClassVar[bool] = False

    #: ``"stream"`` or ``"response"`` while this request is to be held, else None.
    grip_hold_mode: str | None = None
    #: The authorized channels of this request's hold, for its renderer.
    grip_channels: tuple[Channel, ...] = ()
    #: Durable: the hold channel's last id, read before the view's query.
    grip_version: int | None = None

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
        return [r for r in self.get_renderers() if is_holdable(r)]

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
    def get_hold_mode(self) -> str | None:
        """``"stream"``, ``"response"`` (long-poll) or None (answer normally).

        Runs after authentication, permissions and throttles passed. Each
        mixin answers for its own mode and asks ``super()`` otherwise.
        """
        return None

    def channels_for(self) -> Iterable[ChannelLike]:
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

    def should_hold(self, response: Response) -> bool:
        """Whether this successful response is held (True), or sent as it is."""
        return True

    def get_hold(self, response: Response) -> Hold | None:
        """The hold for this response, by its mode; each mixin builds its own."""
        return None

    # -- channel names -----------------------------------------------------------
    def list_channel(self) -> str:
        """The channel of the whole list: the model's label, ``"app_label.model"``.

        Lists are held on it and every change is published to it.
        """
        model = self._model()
        if model is None:
            raise ImproperlyConfigured(f"{type(self).__qualname__} has no queryset to name channels after.")
        return str(model._meta.label_lower)

    def object_channel(self, lookup_value: Any) -> str:
        """The channel of one object, by its ``lookup_field`` value.

        A detail is held on it and each change of that object is published to it.
        """
        return f"{self.list_channel()}.{lookup_value}"

    # -- DRF's plug points --------------------------------------------------------
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Authentication, permissions and throttles passed: only now may we hold.
        mode = None
        if request.method in self.hold_methods and self.can_hold_with(request.accepted_renderer):
            mode = self.get_hold_mode()
        if mode is None:
            return
        try:
            channels = self.get_channels()
        except InvalidChannel as exc:
            raise exceptions.ParseError(str(exc))
        except ChannelDenied as exc:
            self.permission_denied(request, message=exc.reason)
        renderer = request.accepted_renderer
        self.grip_hold_mode = mode
        self.grip_channels = tuple(renderer_channel(c, renderer) for c in channels)
        if self.durable and self.grip_channels:
            self.grip_version = self._read_version()

    def _read_version(self) -> int:
        """The hold channel's last id: read here, before the handler's query, so
        the answer has every change up to it (see "Snapshot, then changes")."""
        from ..durable import get_sender
        from ..history import get_history

        if len(self.grip_channels) != 1:
            raise ImproperlyConfigured(
                f"{type(self).__qualname__} is durable, so it holds from one channel's last id: "
                f"channels_for() must return exactly one channel, not {len(self.grip_channels)}."
            )
        get_sender().sweep_once()  # a process's first durable request sends what a dead one left
        return get_history().last_id(self.grip_channels[0].name)

    def _versioned_channels(self) -> tuple[Channel, ...]:
        """The hold's channels, from ``grip_version`` when durable."""
        if self.grip_version is None:
            return self.grip_channels
        return tuple(
            Channel(c.name, prev_id=str(self.grip_version), filters=c.filters) for c in self.grip_channels
        )

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if (
            self.grip_channels
            and isinstance(response, Response)
            and not response.exception
            and 200 <= response.status_code < 300
            and self.should_hold(response)
        ):
            hold = self.get_hold(response)
            if hold is not None:
                set_hold(response, hold)
        return response

    # -- publishing ---------------------------------------------------------------
    def publish_data(self, channel: ChannelLike, data: Any, **options: Any) -> None:
        """:func:`~grip_views.rest_framework.publish_data` with this view's
        publish renderers and renderer context."""
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
    #: Durable: how often (seconds) the proxy asks for what a stream missed
    #: while it is idle; short closes the race of a publish with a reconnect.
    next_link_timeout: ClassVar[int] = 5

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        token = request.GET.get(NEXT_PARAM) if self.durable else None
        if token is None:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[no-any-return]
        # The proxy fetching a durable stream's next link: it sends no client
        # credentials, the link is signed for its channel by the request that
        # passed DRF's checks, so it is answered here, before DRF's initial().
        return self.next_link_response(token)

    def next_link_response(self, token: str) -> HttpResponseBase:
        """What a durable stream missed after the proxy's ``Grip-Last`` id, held
        again from the last one; a stream the history cannot repair is ended,
        so its client reconnects and gets a fresh snapshot."""
        from ..resume import reliable_hold, replay_stream, stream_content

        try:
            channel, replay = replay_stream(self.request, token)
        except RejectConnection as exc:
            return refusal_response(exc)
        if replay.reset:
            logger.info(
                "grip_views: %s: %r cannot be repaired from the history: ended",
                type(self).__qualname__,
                channel,
            )
            return HttpResponse(b"")
        body, sent = stream_content(replay)
        response = HttpResponse(body)
        renderer = self._renderer_of(channel)
        hold = reliable_hold(
            Channel(channel),
            sent,
            self.request.path,
            keep_alive=self._keep_alive_for(renderer),
            keep_alive_interval=self.keep_alive_interval,
            link_timeout=self.next_link_timeout,
        )
        set_hold(response, hold)
        return response

    def get_hold_mode(self) -> str | None:
        fmt = getattr(self.request.accepted_renderer, "format", None)
        if self.stream_formats is None or fmt in self.stream_formats:
            return "stream"
        return super().get_hold_mode()

    def get_keep_alive(self) -> str | bytes | None:
        """Keep-alive data for this stream: an SSE comment for an event stream,
        else ``keep_alive``."""
        return self._keep_alive_for(self.request.accepted_renderer)

    def _keep_alive_for(self, renderer: BaseRenderer | None) -> str | bytes | None:
        if isinstance(renderer, EventStreamRenderer):
            return format_comment()
        return self.keep_alive

    def _renderer_of(self, channel: str) -> BaseRenderer | None:
        """The hold renderer whose representations ``channel`` carries (see renderer_channel)."""
        renderers = self.get_hold_renderers()
        for renderer in renderers:
            fmt = getattr(renderer, "format", None) or "json"
            if fmt != "json" and channel.endswith(f"@{fmt}"):
                return renderer
        return next((r for r in renderers if (getattr(r, "format", None) or "json") == "json"), None)

    def get_initial_event(self) -> str | None:
        """The SSE event name of the first answer; ``initial_event`` by default."""
        return self.initial_event

    def get_renderer_context(self) -> dict[str, Any]:
        context = super().get_renderer_context()
        if self.grip_hold_mode == "stream":
            context["sse_event"] = self.get_initial_event()
            if self.grip_version is not None:
                context["sse_id"] = str(self.grip_version)  # the snapshot's version
        return context

    def get_hold(self, response: Response) -> Hold | None:
        if self.grip_hold_mode != "stream":
            return super().get_hold(response)
        separator = stream_separator(self.request.accepted_renderer)
        if separator:
            response.add_post_render_callback(_append(separator))
        if self.grip_version is not None:
            from ..resume import reliable_hold

            return reliable_hold(
                self.grip_channels[0],
                self.grip_version,
                self.request.path,
                keep_alive=self.get_keep_alive(),
                keep_alive_interval=self.keep_alive_interval,
                link_timeout=self.next_link_timeout,
            )
        return Hold(
            "stream",
            self.grip_channels,
            keep_alive=self.get_keep_alive(),
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

    def get_hold_mode(self) -> str | None:
        if self.version_param in self.request.query_params:
            return "response"
        return super().get_hold_mode()

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

    def has_changes(self, response: Response) -> bool:
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

    def should_hold(self, response: Response) -> bool:
        if self.grip_hold_mode != "response":
            return super().should_hold(response)
        return not self.has_changes(response)

    def get_hold(self, response: Response) -> Hold | None:
        if self.grip_hold_mode != "response":
            return super().get_hold(response)
        if self.grip_version is None:
            _warn_unversioned(type(self))
        # Durable: from the version the answer was built at. A change published
        # before the proxy subscribes makes it request this view again at once.
        return Hold("response", self._versioned_channels(), timeout=self.get_timeout())

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


class PublishChangesMixin(GripMixin):
    """Publish each object created, updated or deleted through the view, after commit.

    ``perform_create``/``perform_update``/``perform_destroy`` publish the
    object, serialized by the view's serializer and rendered by every publish
    renderer, to :meth:`list_channel` (long-polls get ``[object]``) and to its
    :meth:`object_channel` (long-polls get the object; 404 once it is
    deleted): the channels the list and detail views hold on. Streams get it
    as an SSE event named ``created``, ``updated`` or ``deleted``. With
    ``publish_on_commit`` (the default) nothing is sent before the transaction
    commits, and nothing if it rolls back.

    With ``durable = True`` each rendering is stored in the history, in the
    change's transaction (the default ``perform_*`` open one), and sent after
    the commit with ids; ``publish_on_commit`` and ``publish_blocking`` do not
    apply (a durable publish is always after the commit and retried).

    Overriding ``perform_create()`` without calling ``super()`` (to pass
    ``serializer.save(owner=...)``)? Call ``self.publish_change(instance,
    "created")`` after saving; a create, update or destroy that published
    nothing is logged as a warning naming the fix, never silent.
    """

    #: Send after the transaction commits (dropped on rollback).
    publish_on_commit: ClassVar[bool] = True
    #: Wait for the proxy (raising on failure) instead of queueing; the
    #: default, False, never fails a write because the proxy is down.
    publish_blocking: ClassVar[bool] = False

    _grip_published: bool = False

    def perform_create(self, serializer: Any) -> None:
        with self._change_transaction():
            super().perform_create(serializer)  # type: ignore[misc]
            self.publish_change(serializer.instance, "created", serializer.data)

    def perform_update(self, serializer: Any) -> None:
        with self._change_transaction():
            super().perform_update(serializer)  # type: ignore[misc]
            self.publish_change(serializer.instance, "updated", serializer.data)

    def perform_destroy(self, instance: Any) -> None:
        # Serialized and named first: the primary key is gone afterwards.
        data = self.get_serializer(instance).data
        object_channel = self.object_channel(getattr(instance, self.lookup_field))
        with self._change_transaction():
            super().perform_destroy(instance)  # type: ignore[misc]
            self._publish_change(data, "deleted", object_channel)

    def _change_transaction(self) -> Any:
        """Durable: the change and its events commit together (the outbox)."""
        return transaction.atomic() if self.durable else contextlib.nullcontext()

    def publish_change(self, instance: Any, event: str, data: Any = None) -> None:
        """Publish ``instance`` (or its already serialized ``data``) as ``event``."""
        if data is None:
            data = self.get_serializer(instance).data
        self._publish_change(data, event, self.object_channel(getattr(instance, self.lookup_field)))

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        action = getattr(self, "action", None) or _ACTION_OF_METHOD.get(request.method or "", "")
        hook = _PERFORM_HOOKS.get(str(action))
        if hook and not self._grip_published and 200 <= response.status_code < 300 and hasattr(self, hook):
            logger.warning(
                "grip_views: %s.%s() published nothing, so no client hears of this change: call "
                "super().%s(...) or self.publish_change(instance, event) in it.",
                type(self).__qualname__,
                hook,
                hook,
            )
        return response

    def _publish_change(self, data: Any, event: str, object_channel: str) -> None:
        self._grip_published = True
        options: dict[str, Any] = {"event": event}
        if self.durable:
            options["durable"] = True  # stored now, sent after the commit, with ids
        else:
            options.update(on_commit=self.publish_on_commit, blocking=self.publish_blocking)
        if event == "deleted":
            # A list long-poll is answered with a list: a deletion does not wake it.
            self.publish_data(self.list_channel(), data, response=None, **options)
            gone = {"detail": str(exceptions.NotFound.default_detail)}
            self.publish_data(object_channel, data, response=gone, status=404, **options)
        else:
            self.publish_data(self.list_channel(), data, response=[data], **options)
            self.publish_data(object_channel, data, **options)
