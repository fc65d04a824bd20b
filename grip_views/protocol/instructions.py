"""A hold (channels, timeout, keep-alive, next link) turned into ``Grip-*`` headers.

Pure and framework-free: this is the one place that writes GRIP instruction
headers, and the one place that parses the ``Grip-*`` headers a proxy sends.
Everything that reaches a header is checked here, so no channel name, id or
link can inject a parameter or a header line.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, Union, cast, get_args

from ..exceptions import InvalidChannel, InvalidHold

#: Printable ASCII but the characters that delimit GRIP header values.
_TOKEN_RE = re.compile(r"[!#-+\--:<-\[\]-~]+")
_LINK_RE = re.compile(r"[!-;=?-~]+")  # printable, no space, '<' or '>'
_REASON_RE = re.compile(r"[ -~]*")
MAX_CHANNEL_LENGTH = 1024
#: Pushpin's minimum hold timeout; shorter values are raised to it by the proxy.
MIN_TIMEOUT = 5
#: Pushpin's minimum keep-alive interval.
MIN_KEEP_ALIVE_INTERVAL = 20
#: Statuses whose responses carry no body and whose headers servers and proxies
#: on the way may drop or rewrite (a 304 may only repeat a few headers, RFC 9110
#: 15.4.5). A hold is never written on one: the response goes to the GRIP proxy
#: as 200 with the intended status in ``Grip-Status``, as django-grip does.
NO_HOLD_STATUSES = frozenset([*range(100, 200), 204, 205, 304])
#: Pushpin's default ``connection_subscription_max``: subscriptions beyond it
#: on one connection are dropped by the proxy, with only a warning in its log.
MAX_CONNECTION_SUBSCRIPTIONS = 20

#: Pushpin's subscription filters. Each reads the subscription's meta
#: (``Grip-Set-Meta`` on a hold, ``set-meta`` on a WebSocket) and the meta of
#: each publish: ``skip-self`` drops an item whose meta ``sender`` equals the
#: subscription's ``user``; ``skip-users`` one whose ``skip_users`` (a comma
#: list) names it; ``require-sub`` one whose ``require_sub`` channel this
#: connection is not subscribed to (HTTP only on Pushpin 1.36: on a WebSocket
#: it drops every such item); ``build-id`` replaces ``%I`` in the content with
#: an id built from the subscription's ``id_format`` (HTTP holds with
#: ``prev_id``); ``var-subst`` replaces ``%(name)s`` with the subscription's
#: meta ``name`` (so ``%`` is written ``%%``). ``http-check`` and
#: ``http-modify`` are newer Pushpin's, not 1.36's.
FilterName = Literal[
    "skip-self", "skip-users", "require-sub", "build-id", "var-subst", "http-check", "http-modify"
]
FILTERS: tuple[FilterName, ...] = get_args(FilterName)


def check_channel_name(name: object, *, setting: str | None = None) -> str:
    """Return ``name`` if it can be a channel name, else raise :class:`InvalidChannel`.

    A channel name is 1 to 1024 printable ASCII characters without space,
    ``,``, ``;``, ``"`` or ``\\``: those delimit ``Grip-Channel`` values.
    """
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_CHANNEL_LENGTH
        or not _TOKEN_RE.fullmatch(name)
    ):
        where = f"{setting} " if setting else "channel name "
        raise InvalidChannel(
            f"{where}{name!r} is not valid: use 1-{MAX_CHANNEL_LENGTH} printable ASCII "
            "characters without spaces, ',', ';', '\"' or '\\'."
        )
    return name


def _check_param(value: object, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value) or len(value) > MAX_CHANNEL_LENGTH:
        raise InvalidChannel(
            f"{what} {value!r} is not valid in a header: use printable ASCII without "
            "spaces, ',', ';', '\"' or '\\'."
        )
    return value


@dataclass(frozen=True)
class Channel:
    """A channel to hold on, with an optional last-seen id and subscription filters.

    ``prev_id`` makes a reliable hold: Pushpin notices a gap between it and the
    next published ``prev_id`` and fetches the next link to recover.
    """

    name: str
    prev_id: str | None = None
    filters: tuple[FilterName, ...] = ()

    def __post_init__(self) -> None:
        check_channel_name(self.name)
        if self.prev_id is not None:
            _check_param(self.prev_id, "prev-id")
        if isinstance(self.filters, str):
            object.__setattr__(self, "filters", (self.filters,))
        elif type(self.filters) is not tuple:
            object.__setattr__(self, "filters", tuple(self.filters))
        for f in self.filters:
            check_filter(f)

    def header_value(self, prefix: str = "") -> str:
        value = prefix + self.name
        if self.prev_id is not None:
            value += f"; prev-id={self.prev_id}"
        for f in self.filters:
            value += f"; filter={f}"
        return value


ChannelLike = Union[str, Channel, Any]  # Any: gripcontrol.Channel is accepted too


def check_filter(name: object) -> FilterName:
    """Return ``name`` if it is one of Pushpin's :data:`FILTERS`, else raise
    :class:`InvalidChannel` (Pushpin ignores a filter it does not know: a typo
    would deliver every message)."""
    if name not in FILTERS:
        raise InvalidChannel(f"unknown filter {name!r}: Pushpin's filters are {', '.join(FILTERS)}")
    return name  # type: ignore[return-value]


def unsupported_filters(filters: Iterable[str], features: frozenset[str]) -> list[str]:
    """The ``filters`` a proxy does not list in its ``Grip-Feature`` header
    (``filter:skip-self``...); none when the proxy sends no ``Grip-Feature`` at all."""
    if not features:
        return []
    return [f for f in filters if f"filter:{f}" not in features]


# Pays: bench a1c "named_channel", row stream (1.056x slower without it).
@functools.lru_cache(maxsize=4096)
def _named_channel(name: str) -> Channel:
    # Channels are immutable: one checked object per name serves every request.
    return Channel(name)


def as_channel(channel: ChannelLike) -> Channel:
    """A :class:`Channel` from a name, a Channel, or a ``gripcontrol.Channel``."""
    if type(channel) is str:
        return _named_channel(channel)
    if isinstance(channel, Channel):
        return channel
    if isinstance(channel, str):
        return _named_channel(channel)
    name = getattr(channel, "name", None)
    if isinstance(name, str):
        return Channel(name, getattr(channel, "prev_id", None), tuple(getattr(channel, "filters", ()) or ()))
    raise InvalidChannel(f"expected a channel name or Channel, got {type(channel).__name__}")


def as_channels(channels: ChannelLike | Iterable[ChannelLike] | None) -> tuple[Channel, ...]:
    """Channels from one channel or an iterable of them (``None`` is no channel)."""
    if channels is None:
        return ()
    if type(channels) is list or type(channels) is tuple:  # the usual answer of channels_for()
        if len(channels) == 1 and type(channels[0]) is str:  # one name, most often of all
            return (_named_channel(channels[0]),)
        # Names, most often: each straight from the cache, without an as_channel() call.
        return tuple([_named_channel(c) if type(c) is str else as_channel(c) for c in channels])
    if isinstance(channels, (str, Channel)) or hasattr(channels, "name"):
        return (as_channel(channels),)
    return tuple(as_channel(c) for c in channels)  # type: ignore[union-attr]


def encode_keep_alive(data: str | bytes) -> str:
    """``Grip-Keep-Alive`` data with its format: ``cstring`` when the bytes are
    plain printable text (with ``\\n``/``\\r`` escaped), ``base64`` for anything else."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not raw:
        raise InvalidHold("keep-alive data must not be empty")
    text = raw.decode("latin-1")
    escaped = text.replace("\r", "\\r").replace("\n", "\\n")
    if (
        "\\" not in text
        and _REASON_RE.fullmatch(escaped)
        and not any(c in text for c in ',;"')
        and escaped == escaped.strip()
    ):
        return f"{escaped}; format=cstring"
    return f"{base64.b64encode(raw).decode('ascii')}; format=base64"


@dataclass(frozen=True)
class Hold:
    """What the proxy should do with a response: hold it open on channels.

    ``mode`` is ``"stream"`` (send the response, then append what is published)
    or ``"response"`` (long-poll: send what is published, or the response itself
    after ``timeout`` seconds).
    """

    mode: Literal["stream", "response"]
    channels: tuple[Channel, ...]
    timeout: int | None = None
    keep_alive: bytes | str | None = None
    keep_alive_interval: int = MIN_KEEP_ALIVE_INTERVAL
    keep_alive_mode: Literal["idle", "interval"] = "idle"
    next_link: str | None = None
    next_link_timeout: int | None = None
    status: int | None = None
    reason: str | None = None
    expose_headers: tuple[str, ...] = field(default=())
    #: Subscription meta, which Pushpin's filters read (``Grip-Set-Meta``):
    #: ``user`` for skip-self and skip-users, ``id_format`` for build-id, any
    #: name for var-subst. A mapping or ``(name, value)`` pairs (kept as pairs).
    meta: Mapping[str, str] | tuple[tuple[str, str], ...] = field(default=())
    #: The channels' filters, each once (computed).
    filters: tuple[str, ...] = field(default=(), init=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in ("stream", "response"):
            raise InvalidHold(f"hold mode must be 'stream' or 'response', got {self.mode!r}")
        object.__setattr__(self, "channels", as_channels(self.channels))
        if not self.channels:
            raise InvalidHold("a hold needs at least one channel")
        if self.meta:
            pairs = self.meta.items() if isinstance(self.meta, Mapping) else self.meta
            try:
                checked = check_meta(dict(pairs), "subscription meta")
            except InvalidChannel as exc:
                raise InvalidHold(str(exc)) from None
            object.__setattr__(self, "meta", tuple(checked.items()))
        # Every filter of the channels, in order, once: checked against the proxy's features.
        object.__setattr__(self, "filters", tuple(dict.fromkeys(f for c in self.channels for f in c.filters)))
        if self.timeout is not None:
            if (
                isinstance(self.timeout, bool)
                or not isinstance(self.timeout, int)
                or self.timeout < MIN_TIMEOUT
            ):
                raise InvalidHold(
                    f"hold timeout must be a whole number of seconds >= {MIN_TIMEOUT} "
                    f"(Pushpin's minimum), got {self.timeout!r}"
                )
        if self.keep_alive is not None:
            encode_keep_alive(self.keep_alive)
            if (
                not isinstance(self.keep_alive_interval, int)
                or self.keep_alive_interval < MIN_KEEP_ALIVE_INTERVAL
            ):
                raise InvalidHold(
                    f"keep-alive interval must be >= {MIN_KEEP_ALIVE_INTERVAL} s (Pushpin's "
                    f"minimum), got {self.keep_alive_interval!r}"
                )
            if self.keep_alive_mode not in ("idle", "interval"):
                raise InvalidHold("keep-alive mode must be 'idle' or 'interval'")
        if self.next_link is not None and not _LINK_RE.fullmatch(self.next_link):
            raise InvalidHold(f"next link {self.next_link!r} must be a URL without spaces or '<>'")
        if self.status is not None and not (100 <= int(self.status) <= 599):
            raise InvalidHold(f"status must be an HTTP status code, got {self.status!r}")
        if self.mode == "stream" and self.status in NO_HOLD_STATUSES:
            raise InvalidHold(
                f"a stream hold cannot have status {self.status}: a {self.status} response has no "
                "body to stream into (use a response hold, or another status)"
            )
        if self.reason is not None and not _REASON_RE.fullmatch(self.reason):
            raise InvalidHold("status reason must be printable ASCII")
        for name in self.expose_headers:
            _check_param(name, "exposed header")


def make_hold(
    mode: Literal["stream", "response"],
    channels: tuple[Channel, ...],
    *,
    timeout: int | None = None,
    keep_alive: bytes | str | None = None,
    keep_alive_interval: int = MIN_KEEP_ALIVE_INTERVAL,
    next_link: str | None = None,
    next_link_timeout: int | None = None,
    status: int | None = None,
    meta: Mapping[str, str] | None = None,
) -> Hold:
    """A :class:`Hold`, built and checked once for equal arguments.

    Views ask for the same few holds over and over; a cached one also keeps
    its headers (see :func:`hold_headers`), so the hot path does neither twice.
    """
    pairs = tuple(meta.items()) if meta else ()
    args = (
        mode,
        channels,
        timeout,
        keep_alive,
        keep_alive_interval,
        next_link,
        next_link_timeout,
        status,
        pairs,
    )
    try:
        return _cached_hold(*args)
    except TypeError:  # an unhashable argument: build it afresh
        return _cached_hold.__wrapped__(*args)


# Pays: bench a1c "cached_hold", rows stream and longpoll (1.11x / 1.10x slower without it).
@functools.lru_cache(maxsize=1024)
def _cached_hold(
    mode: Literal["stream", "response"],
    channels: tuple[Channel, ...],
    timeout: int | None,
    keep_alive: bytes | str | None,
    keep_alive_interval: int,
    next_link: str | None,
    next_link_timeout: int | None,
    status: int | None,
    meta: tuple[tuple[str, str], ...] = (),
) -> Hold:
    return Hold(
        mode,
        channels,
        timeout=timeout,
        keep_alive=keep_alive,
        keep_alive_interval=keep_alive_interval,
        next_link=next_link,
        next_link_timeout=next_link_timeout,
        status=status,
        meta=meta,
    )


def hold_headers(hold: Hold, prefix: str = "") -> list[tuple[str, str]]:
    """The ``Grip-*`` response headers for ``hold``, channel names prefixed once."""
    return list(hold_header_items(hold, prefix))


def hold_header_items(hold: Hold, prefix: str = "") -> tuple[tuple[str, str], ...]:
    """:func:`hold_headers` as the tuple kept on the hold for ``prefix`` (what the
    middleware writes: no list copied per request)."""
    # Not shown by a bench row (a1c "hold_headers", about 1.6 µs a call saved); it
    # rides on make_hold's cache, which pays.
    cached = hold.__dict__.get("_headers")
    if cached is not None and cached[0] == prefix:
        return cached[1]  # type: ignore[no-any-return]
    headers = tuple(_build_headers(hold, prefix))
    object.__setattr__(hold, "_headers", (prefix, headers))
    return headers


def _build_headers(hold: Hold, prefix: str) -> list[tuple[str, str]]:
    headers = [
        ("Grip-Hold", hold.mode),
        ("Grip-Channel", ", ".join(c.header_value(prefix) for c in hold.channels)),
    ]
    if hold.timeout is not None:
        headers.append(("Grip-Timeout", str(hold.timeout)))
    if hold.keep_alive is not None:
        value = f"{encode_keep_alive(hold.keep_alive)}; timeout={hold.keep_alive_interval}"
        if hold.keep_alive_mode != "idle":
            value += f"; mode={hold.keep_alive_mode}"
        headers.append(("Grip-Keep-Alive", value))
    if hold.next_link is not None:
        link = f"<{hold.next_link}>; rel=next"
        if hold.next_link_timeout:
            link += f"; timeout={int(hold.next_link_timeout)}"
        headers.append(("Grip-Link", link))
    if hold.status is not None and hold.status != 200:
        headers.append(("Grip-Status", grip_status(hold.status, hold.reason)))
    if hold.expose_headers:
        headers.append(("Grip-Expose-Headers", ", ".join(hold.expose_headers)))
    if hold.meta:
        headers.append(("Grip-Set-Meta", grip_set_meta(cast(tuple[tuple[str, str], ...], hold.meta))))
    return headers


_META_TOKEN_RE = re.compile(r"[!#-+\--:<>-\[\]-~]+")  # a token without '='


def grip_set_meta(meta: Iterable[tuple[str, str]]) -> str:
    """A ``Grip-Set-Meta`` value: ``name=value`` pairs joined by ``, ``, a value
    quoted (``\\`` and ``"`` escaped) unless it is a plain token. Pushpin reads
    ``"a, b"`` as one value, ``a, b`` as ``a`` (checked on 1.36)."""
    parts = []
    for name, value in meta:
        if not _META_TOKEN_RE.fullmatch(value):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{name}={value}")
    return ", ".join(parts)


def grip_status(status: int, reason: str | None = None) -> str:
    """A ``Grip-Status`` value: the status and its reason (the standard one when
    ``reason`` is None or not printable ASCII)."""
    if reason is None or not _REASON_RE.fullmatch(reason):
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}".rstrip()


def held_status(hold: Hold, status: int, reason: str | None = None) -> tuple[int, str | None]:
    """``(status to send the proxy, Grip-Status value or None)`` for a response
    of ``status`` held by ``hold``.

    The proxy gets 200 whenever the client should get something else: the
    hold's own ``status`` (whose ``Grip-Status`` :func:`hold_headers` writes),
    or a response status in :data:`NO_HOLD_STATUSES`, whose ``Grip-Status`` is
    returned here. Other statuses go as they are.
    """
    if hold.status is not None:
        return (200 if hold.status != 200 or status in NO_HOLD_STATUSES else status), None
    if status in NO_HOLD_STATUSES:
        return 200, grip_status(status, reason)
    return status, None


def parse_grip_last(value: str | None, prefix: str = "") -> dict[str, str]:
    """Parse ``Grip-Last: ch; last-id=x, ...`` into ``{channel: last_id}``.

    Channel names lose ``prefix``; entries that are malformed or carry another
    prefix are left out rather than trusted.
    """
    out: dict[str, str] = {}
    if not value:
        return out
    for entry in value.split(","):
        name, _, params = entry.strip().partition(";")
        name = name.strip()
        if not name.startswith(prefix) or not _TOKEN_RE.fullmatch(name):
            continue
        last_id = None
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key == "last-id":
                last_id = val.strip().strip('"')
        if last_id is not None:
            out[name[len(prefix) :]] = last_id
    return out


def parse_features(value: str | None) -> frozenset[str]:
    """Parse ``Grip-Feature: a, b`` into a set of feature names."""
    if not value:
        return frozenset()
    return frozenset(f.strip() for f in value.split(",") if f.strip())


_META_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def json_default(value: Any) -> Any:
    """``json.dumps``'s ``default`` for publish items and stored payloads: gripcontrol's
    formats export base64 content (``content-bin``, ``body-bin``) as bytes."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def check_meta(meta: Mapping[str, Any], what: str = "meta") -> dict[str, str]:
    """Check publish or connection meta: names are header tokens, values printable text."""
    out: dict[str, str] = {}
    for key, value in meta.items():
        if not isinstance(key, str) or not _META_NAME_RE.fullmatch(key):
            raise InvalidChannel(f"{what} name {key!r} must be 1-64 letters, digits, '-' or '_'")
        if not isinstance(value, str) or len(value) > 8192 or not _REASON_RE.fullmatch(value):
            raise InvalidChannel(f"{what} value for {key!r} must be printable ASCII text up to 8 KiB")
        out[key] = value
    return out
