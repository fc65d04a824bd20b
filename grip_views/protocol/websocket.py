"""WebSocket-over-HTTP: the events codec and the state of one connection.

Framework-free. A GRIP proxy turns a client's WebSocket into HTTP POSTs whose
bodies are events (``TYPE <hex length>\\r\\n<content>\\r\\n`` or ``TYPE\\r\\n``),
and reads the events to send back from the response body. The codec here is
strict (it rejects every truncated or malformed body) and linear in the size
of its input, both ways.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import struct
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from ..exceptions import InvalidChannel, ProtocolError
from .instructions import (
    MAX_CONNECTION_SUBSCRIPTIONS,
    MIN_KEEP_ALIVE_INTERVAL,
    Channel,
    ChannelLike,
    as_channel,
    check_meta,
    unsupported_filters,
)

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/websocket-events"
EVENT_TYPES = ("OPEN", "TEXT", "BINARY", "PING", "PONG", "CLOSE", "DISCONNECT")
_TYPES = {t.encode("ascii"): t for t in EVENT_TYPES}


#: The frames a keep-alive can be sent as (Pushpin's ``message-type``).
KeepAliveType = Literal["text", "binary", "ping", "pong"]
KEEP_ALIVE_TYPES: tuple[KeepAliveType, ...] = ("text", "binary", "ping", "pong")


class WebSocketEvent(NamedTuple):
    """One WebSocket-over-HTTP event: its type and its content, if any."""

    type: str
    content: bytes | None = None


_HEAD = re.compile(rb"(OPEN|TEXT|BINARY|PING|PONG|CLOSE|DISCONNECT)(?: ([0-9a-fA-F]{1,8}))?\r\n")
_TYPE_BYTES = {t: t.encode("ascii") for t in EVENT_TYPES}
_new_event = tuple.__new__
_match_head = _HEAD.match
#: Splitting searches every byte for CRLF (about 1 ns a byte here) to save a
#: regex match per event: worth it for bodies of small events, not for a big
#: message, which the scan jumps over by its length. Longer bodies are split
#: only when their first event is small (under 4 KiB).
_SPLIT_MAX = 64 * 1024
#: What each event head seen lately says: its type and content length (None:
#: no content). A connection's messages come with the same few heads.
# Pays: bench a1c "event_heads", row ws_text100.
_HEADS: dict[bytes, tuple[str, int | None]] = {}
_MAX_HEADS = 4096
_OPEN = WebSocketEvent("OPEN")


def decode_events(body: bytes) -> list[WebSocketEvent]:
    """Decode a WebSocket-events body; raise :class:`ProtocolError` if malformed.

    Unknown event types, lengths that are not hexadecimal, content that runs
    past the end of the body and a missing CRLF after the content are all
    errors, never silently accepted.
    """
    if body == b"OPEN\r\n":
        return [_OPEN]  # a new connection: the most common body of all
    if not isinstance(body, bytes):
        if not isinstance(body, (bytearray, memoryview)):
            raise ProtocolError("WebSocket-events body must be bytes")
        body = bytes(body)
    if len(body) <= _SPLIT_MAX or _starts_small(body):
        events = _decode_split(body)
        if events is not None:
            return events
    return _decode_scan(body)


def _starts_small(body: bytes) -> bool:
    # A long body that opens with a small event is most likely many small
    # events. Only a peek at the first header: the decoders check it properly.
    space = body.find(b" ", 0, 12)
    return space != -1 and body.find(b"\r\n", space, space + 6) != -1


def _decode_split(body: bytes) -> list[WebSocketEvent] | None:
    """The fast path: split the body at every CRLF at once (in C) and walk the
    pieces. Returns None, leaving the body to :func:`_decode_scan`, as soon as
    anything is unusual: content holding a CRLF of its own, or an error."""
    parts = body.split(b"\r\n")
    if parts.pop() != b"":
        return None
    out: list[WebSocketEvent] = []
    append = out.append
    heads = _HEADS
    i = 0
    count = len(parts)
    while i < count:
        head = heads.get(parts[i]) or _read_head(parts[i])
        if head is None:
            return None
        etype, length = head
        i += 1
        if length is None:
            append(_new_event(WebSocketEvent, (etype, None)))
            continue
        if i == count:
            return None
        content = parts[i]
        if len(content) != length:
            return None
        append(_new_event(WebSocketEvent, (etype, content)))
        i += 1
    return out


def _read_head(head: bytes) -> tuple[str, int | None] | None:
    """The type and content length of one event head (``TEXT 1f``, ``OPEN``),
    remembered in ``_HEADS``; None if it is not one."""
    name, space, size = head.partition(b" ")
    etype = _TYPES.get(name)
    if etype is None:
        return None
    length = None
    if space:
        # Hex digits only: int() alone would take "0x1f", "+1" or "1_0".
        if not (0 < len(size) <= 8 and size.isalnum()) or size[:2] in (b"0x", b"0X"):
            return None
        try:
            length = int(size, 16)
        except ValueError:
            return None
    if len(_HEADS) >= _MAX_HEADS:
        _HEADS.clear()
    found = _HEADS[head] = (etype, length)
    return found


def _decode_scan(body: bytes) -> list[WebSocketEvent]:
    """The reference decoder: one regex match per event header, exact offsets."""
    out: list[WebSocketEvent] = []
    start = 0
    end = len(body)
    # One regex match per event header; no slicing but the content itself.
    while start < end:
        m = _match_head(body, start)
        if m is None:
            raise ProtocolError(_describe_bad_header(body, start))
        size = m[2]
        head = start
        start = m.end()
        if size is None:
            out.append(_new_event(WebSocketEvent, (_TYPES[m[1]], None)))
            continue
        stop = start + int(size, 16)
        if not body.startswith(b"\r\n", stop):
            etype = _TYPES[m[1]]
            if stop + 2 > end:
                raise ProtocolError(
                    f"{etype} at byte {head} says {int(size, 16)} bytes but the body ends first"
                )
            raise ProtocolError(f"{etype} at byte {head} is not followed by CRLF")
        out.append(_new_event(WebSocketEvent, (_TYPES[m[1]], body[start:stop])))
        start = stop + 2
    return out


def _describe_bad_header(body: bytes, start: int) -> str:
    at = body.find(b"\r\n", start, start + 64)
    if at == -1:
        return f"event at byte {start} has no CRLF after its type"
    etype, _, size = body[start:at].partition(b" ")
    if etype not in _TYPES:
        return f"unknown event type {etype[:32]!r} at byte {start}"
    return f"bad content length {size[:16]!r} for {etype.decode()} at byte {start}"


def encode_events(events: Iterable[WebSocketEvent | tuple[str, bytes | str | None]]) -> bytes:
    """Encode events into a WebSocket-events body (str content is sent as UTF-8)."""
    if not isinstance(events, (list, tuple)):
        events = list(events)
    tb = _TYPE_BYTES
    try:
        # Fast path: known types, bytes content. One bytes object per event,
        # joined once: linear in the total size.
        return b"".join(
            [tb[t] + b"\r\n" if c is None else b"%s %x\r\n%s\r\n" % (tb[t], len(c), c) for t, c in events]  # type: ignore[str-format]
        )
    except (KeyError, TypeError):
        pass
    parts: list[bytes] = []
    for etype, content in events:
        name = etype.encode("ascii") if isinstance(etype, str) else bytes(etype)
        if content is None:
            parts.append(name + b"\r\n")
            continue
        if isinstance(content, str):
            content = content.encode("utf-8")
        parts.append(b"%s %x\r\n%s\r\n" % (name, len(content), bytes(content)))
    return b"".join(parts)


def is_sendable_close_code(code: object) -> bool:
    """Whether ``code`` may be sent in a close frame (RFC 6455 7.4: 1000-4999,
    but the reserved 1004 and the never-sent 1005, 1006 and 1015)."""
    return type(code) is int and 1000 <= code <= 4999 and code not in (1004, 1005, 1006, 1015)


def close_payload(code: int | None, reason: str = "") -> bytes:
    """The payload of a CLOSE event: a 2-byte code then the UTF-8 reason."""
    if code is None:
        return b""
    if not is_sendable_close_code(code):
        raise ValueError(f"{code} is not a close code a server may send (1000-4999)")
    return struct.pack(">H", code) + reason.encode("utf-8")[:123]


def parse_close_payload(payload: bytes | None) -> tuple[int | None, str]:
    """The code and reason of a CLOSE event's payload (``None`` when absent)."""
    if not payload or len(payload) < 2:
        return None, ""
    code = struct.unpack(">H", payload[:2])[0]
    return code, payload[2:].decode("utf-8", "replace")


_META_NAME_RE = re.compile(r"[a-z0-9_]{1,64}")


def meta_from_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Connection meta from WSGI-style ``HTTP_META_*`` keys, names lower-cased."""
    return {
        key[10:].lower(): value
        for key, value in headers.items()
        if key.startswith("HTTP_META_") and _META_NAME_RE.fullmatch(key[10:].lower())
    }


class WebSocketContext:
    """One WebSocket-over-HTTP request: the events received and the reply being built.

    It is built by the middleware and lives for one request; what must outlive
    the request is kept by the proxy: subscriptions, and ``meta`` (sent back as
    ``Set-Meta-*`` headers and returned as ``Meta-*`` headers on later requests).
    """

    #: Subscribe every channel with Pushpin's ``skip-self`` filter (set by the view).
    skip_self = False
    #: The subscription meta ``user`` that ``skip-self`` compares with a
    #: publish's ``sender``; ``None``: this connection's id (see :attr:`sender_id`).
    self_user: str | None = None
    #: Keep-Alive-Interval (seconds) asked of the proxy in this reply, or None.
    request_interval: int | None = None
    _user_sent = False
    # What a new reply starts with, read here until set (one context per request:
    # these are not stored on each).
    #: Subscriptions this reply asks for (the proxy keeps at most
    #: ``subscription_max`` per connection).
    subscriptions = 0
    accepted = False
    rejected = False
    closed = False
    close_code: int | None = None
    subprotocol: str | None = None
    _meta: dict[str, str] | None = None

    def __init__(
        self,
        connection_id: str,
        events: list[WebSocketEvent],
        meta: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        grip_extension: bool = True,
        prefix: str = "",
        features: frozenset[str] = frozenset(),
        subscription_max: int = MAX_CONNECTION_SUBSCRIPTIONS,
    ) -> None:
        self.connection_id = connection_id
        self.events = events
        self.grip_extension = grip_extension
        self.prefix = prefix
        #: What the proxy's ``Grip-Feature`` header lists (``filter:skip-self``...).
        self.features = features
        self.subscription_max = subscription_max
        self.opening = bool(events) and events[0].type == "OPEN"
        # Meta given as such, or the request's WSGI headers to read it from.
        self._meta_source = meta
        self._headers = headers
        self._meta_in: dict[str, str] = {}
        # The reply's events, each already encoded: joined once at the end.
        self._frames: list[bytes] = []

    @property
    def meta(self) -> dict[str, str]:
        """Per-connection values kept by the proxy (``Meta-*`` in, ``Set-Meta-*`` out).

        Read from the request's headers on first use only.
        """
        if self._meta is None:
            if self._meta_source is None and self._headers is not None:
                self._meta = meta_from_headers(self._headers)
            else:
                self._meta = dict(self._meta_source or {})
            self._meta_in = dict(self._meta)
        return self._meta

    @meta.setter
    def meta(self, value: Mapping[str, str]) -> None:
        self.meta  # noqa: B018 - load what came in, to compare
        self._meta = dict(value)

    @property
    def outgoing(self) -> list[WebSocketEvent]:
        """The events of the reply so far (OPEN excepted), decoded."""
        return decode_events(b"".join(self._frames))

    def __repr__(self) -> str:
        return f"<WebSocketContext {self.connection_id!r} events={len(self.events)}>"

    # -- replies ------------------------------------------------------------
    def accept(self, subprotocol: str | None = None) -> None:
        """Accept an opening connection (answer its OPEN with OPEN)."""
        if self.opening:
            self.accepted = True
            self.subprotocol = subprotocol

    def send(self, data: str | bytes, *, binary: bool | None = None) -> None:
        """Send a message to this client: ``str`` as text, ``bytes`` as binary."""
        if type(data) is str:
            payload = data.encode()
            if not binary and self.grip_extension:  # the common case, in one step
                self._frames.append(b"TEXT %x\r\nm:%s\r\n" % (len(payload) + 2, payload))
                return
            kind = b"BINARY" if binary else b"TEXT"
        else:
            payload = bytes(data)  # type: ignore[arg-type]
            kind = b"TEXT" if binary is False else b"BINARY"
        if self.grip_extension:
            self._frames.append(b"%s %x\r\nm:%s\r\n" % (kind, len(payload) + 2, payload))
        else:
            self._frames.append(b"%s %x\r\n%s\r\n" % (kind, len(payload), payload))

    def send_control(self, message: dict[str, Any]) -> None:
        """Send a GRIP control message to the proxy (needs the grip extension)."""
        if not self.grip_extension:
            raise ProtocolError(
                "the proxy did not offer the 'grip' WebSocket extension: control messages "
                "(subscribe, detach...) cannot be sent"
            )
        self._frames.append(_control_frame(_compact_json(message)))

    @property
    def sender_id(self) -> str:
        """Who "self" is to ``skip-self``: :attr:`self_user`, else this connection's id."""
        return self.self_user or self.connection_id

    def subscribe(self, channel: ChannelLike) -> bool:
        """Subscribe this connection to a channel (prefix applied once, here).

        Returns False, sending nothing, for a subscription beyond
        ``subscription_max`` in this reply: Pushpin would drop it with only a
        line in its own log, so it is refused here with an error in the app's.
        A channel with ``skip-self`` (or every channel, with :attr:`skip_self`)
        first names this connection to the proxy: ``set-meta user`` :attr:`sender_id`,
        once per reply.
        """
        ch = channel if type(channel) is Channel else as_channel(channel)  # a view's: a Channel
        if not self.grip_extension:
            self.send_control({})  # raises: explains the missing extension
        if self.subscriptions >= self.subscription_max:
            logger.error(
                "grip_views: connection %s subscribes to more than %d channels: %r not subscribed "
                "(Pushpin drops subscriptions beyond its connection_subscription_max). Use fewer "
                "channels, or raise [handler] connection_subscription_max in pushpin.conf and "
                "GRIP_CONNECTION_SUBSCRIPTION_MAX together.",
                self.connection_id,
                self.subscription_max,
                ch.name,
            )
            return False
        self.subscriptions += 1
        filters = ch.filters
        if self.skip_self and "skip-self" not in filters:
            filters = (*filters, "skip-self")
        if not filters:
            self._frames.append(_subscribe_frame(self.prefix + ch.name))
            return True
        if "skip-self" in filters and not self._user_sent:
            self.set_subscription_meta("user", self.sender_id)
        missing = unsupported_filters(filters, self.features)
        if missing:
            logger.warning(
                "grip_views: the proxy does not list %s in Grip-Feature: channel %r may get "
                "every message unfiltered",
                ", ".join(f"filter:{f}" for f in missing),
                ch.name,
            )
        self._frames.append(_subscribe_frame(self.prefix + ch.name, filters))
        return True

    def unsubscribe(self, channel: ChannelLike) -> None:
        """Unsubscribe this connection from a channel."""
        ch = as_channel(channel)
        self.send_control({"type": "unsubscribe", "channel": self.prefix + ch.name})

    def detach(self) -> None:
        """Stop the proxy sending this connection's later messages to the app."""
        self.send_control({"type": "detach"})

    def set_subscription_meta(self, name: str, value: str | None) -> None:
        """Set (``None``: remove) subscription meta, which Pushpin's filters read:
        ``user`` (skip-self, skip-users), ``id_format`` (build-id), any name
        (var-subst). Kept by the proxy for the connection; unlike :attr:`meta`
        it never comes back to the app."""
        check_meta({name: "" if value is None else value}, "subscription meta")
        if not self.grip_extension:
            self.send_control({})  # raises: explains the missing extension
        self._frames.append(_set_meta_frame(name, value))
        if name == "user":
            self._user_sent = True
            self.self_user = value

    def set_session(self, session_id: str | None) -> None:
        """Tell the proxy which session this connection belongs to (``None``: none).

        Pushpin keeps it with the connection and reports it to a session store
        and in its stats; Pushpin 1.36 without one shows no other effect.
        """
        if session_id is None:
            self.send_control({"type": "session"})
            return
        check_meta({"id": session_id}, "session")
        self.send_control({"type": "session", "id": session_id})

    def send_delayed(
        self,
        data: str | bytes,
        delay: int,
        *,
        message_type: KeepAliveType | None = None,
    ) -> None:
        """Have the proxy send ``data`` to the client in ``delay`` seconds.

        One delayed message per connection: a second call first sends the one
        waiting (Pushpin has no cancel), and :meth:`flush_delayed` sends it now.
        ``message_type`` as for :meth:`keep_alive` (str: text, bytes: binary).
        """
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
            raise ProtocolError(f"send_delayed() delay must be a whole number of seconds >= 1, got {delay!r}")
        msg: dict[str, Any] = {"type": "send-delayed", **_typed_content(data, message_type, "send_delayed()")}
        msg["timeout"] = delay
        self.send_control(msg)

    def set_request_interval(self, seconds: int) -> None:
        """Ask the proxy to send the app a request at least every ``seconds``
        (``Keep-Alive-Interval``; with no events when the socket is idle)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < MIN_KEEP_ALIVE_INTERVAL:
            raise ProtocolError(
                f"Keep-Alive-Interval must be a whole number of seconds >= {MIN_KEEP_ALIVE_INTERVAL} "
                f"(Pushpin's minimum), got {seconds!r}"
            )
        self.request_interval = seconds

    def flush_delayed(self) -> None:
        """Send the message of :meth:`send_delayed` now, if one is waiting."""
        self.send_control({"type": "flush-delayed"})

    def keep_alive(
        self,
        content: str | bytes | None,
        timeout: int = 20,
        *,
        message_type: KeepAliveType | None = None,
    ) -> None:
        """Have the proxy send ``content`` whenever the connection is idle ``timeout`` s.

        ``message_type`` says which frame: ``"text"`` (the default for str),
        ``"binary"`` (the default for bytes), or a ``"ping"``/``"pong"`` control
        frame carrying ``content`` (125 bytes at most). ``None`` as content turns
        the keep-alive off. It lasts for the connection; a later call replaces it.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise ProtocolError(f"keep-alive timeout must be a whole number of seconds >= 1, got {timeout!r}")
        if content is None:
            if message_type is not None:
                raise ProtocolError("a keep-alive without content is turned off: give no message_type")
            self.send_control({"type": "keep-alive"})
            return
        msg: dict[str, Any] = {"type": "keep-alive", **_typed_content(content, message_type, "keep-alive")}
        msg["timeout"] = timeout
        self.send_control(msg)

    def ping(self, data: bytes = b"") -> None:
        """Send a WebSocket ping to the client."""
        self._frames.append(b"PING %x\r\n%s\r\n" % (len(data), data) if data else b"PING\r\n")

    def pong(self, data: bytes | None = None) -> None:
        """Answer a client's ping (done for you)."""
        self._frames.append(b"PONG %x\r\n%s\r\n" % (len(data), data) if data is not None else b"PONG\r\n")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with ``code`` (1000, normal closure, by default)."""
        if not self.closed:
            payload = close_payload(code, reason)
            self._frames.append(b"CLOSE %x\r\n%s\r\n" % (len(payload), payload))
            self.closed = True
            self.close_code = code

    def disconnect(self) -> None:
        """Drop the client's connection at once, with no close handshake (a
        ``DISCONNECT`` event: the client sees its TCP connection end, as 1006).
        Messages before it in the same reply may not reach the client."""
        if not self.closed:
            self._frames.append(b"DISCONNECT\r\n")
            self.closed = True

    # -- encoding -----------------------------------------------------------
    def meta_changes(self) -> dict[str, str]:
        """Meta entries set or changed during this request (removed ones map to '').

        Only what the app set is checked: a value that came in on a ``Meta-*``
        header is not written back, so an odd one cannot fail the reply.
        """
        if self._meta is None:
            return {}  # never read, so never changed
        changes = check_meta(
            {k: v for k, v in self._meta.items() if self._meta_in.get(k) != v}, "connection meta"
        )
        for key in changes:
            if not _META_NAME_RE.fullmatch(key):
                # The proxy sends it back as a Meta-* header: lower-cased, '-' read as '_'.
                raise InvalidChannel(
                    f"connection meta name {key!r} must be lower-case letters, digits or '_', "
                    "or it comes back under another name on the next request"
                )
        changes.update({k: "" for k in self._meta_in if k not in self._meta})
        return changes

    def response_headers(self) -> list[tuple[str, str]]:
        """Headers of the reply: content type, grip extension, ``Set-Meta-*``."""
        headers = [("Content-Type", CONTENT_TYPE)]
        if self.accepted and self.grip_extension:
            headers.append(("Sec-WebSocket-Extensions", "grip"))
        if self.accepted and self.subprotocol:
            headers.append(("Sec-WebSocket-Protocol", self.subprotocol))
        if self._meta is not None:  # else never read, so never changed (no meta_changes() call)
            for name, value in self.meta_changes().items():
                headers.append(("Set-Meta-" + name.replace("_", "-").title(), value))
        if self.request_interval is not None:
            headers.append(("Keep-Alive-Interval", str(self.request_interval)))
        return headers

    def response_body(self) -> bytes:
        """The reply's events: OPEN first when accepting, then what was sent."""
        if self.accepted:
            return b"OPEN\r\n" + b"".join(self._frames)
        return b"".join(self._frames)


#: json.dumps(..., separators=...) builds an encoder per call; one serves them all.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def _control_frame(text: str) -> bytes:
    payload = text.encode()
    return b"TEXT %x\r\nc:%s\r\n" % (len(payload) + 2, payload)


# Pays: bench a1c "subscribe_frame", row ws_open (1.085x slower without it).
@functools.lru_cache(maxsize=4096)
def _subscribe_frame(channel: str, filters: tuple[str, ...] = ()) -> bytes:
    # The same few subscriptions are sent on every open: encode each once.
    msg: dict[str, Any] = {"type": "subscribe", "channel": channel}
    if filters:
        msg["filters"] = list(filters)
    return _control_frame(_compact_json(msg))


def _set_meta_frame(name: str, value: str | None) -> bytes:
    # On the open of every skip-self socket: no dict, one string encoded.
    text = '{"type":"set-meta","name":' + _compact_json(name)
    if value is not None:
        text += ',"value":' + _compact_json(value)
    return _control_frame(text + "}")


def _typed_content(data: str | bytes, message_type: KeepAliveType | None, what: str) -> dict[str, Any]:
    """``content`` or ``content-bin``, and ``message-type``, of a keep-alive or delayed message."""
    if isinstance(data, str):
        raw = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raise ProtocolError(f"{what} content must be str or bytes, got {type(data).__name__}")
    kind = message_type or ("text" if isinstance(data, str) else "binary")
    if kind not in KEEP_ALIVE_TYPES:
        raise ProtocolError(f"{what} message_type must be one of {KEEP_ALIVE_TYPES}, got {kind!r}")
    if kind == "text":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"a text {what} must be UTF-8: send bytes as message_type='binary'") from None
    if kind in ("ping", "pong") and len(raw) > 125:
        raise ProtocolError(f"a {kind} {what} carries 125 bytes at most (RFC 6455), got {len(raw)}")
    out: dict[str, Any] = {"message-type": kind}
    if isinstance(data, str):
        out["content"] = data
    else:
        # Pushpin sends a text frame unless told otherwise, whatever the content.
        out["content-bin"] = base64.b64encode(raw).decode("ascii")
    return out
