"""Requests that look proxied: Django's test client signed and encoded as a GRIP proxy would."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.test import Client

from ..conf import grip_settings
from ..exceptions import ProtocolError
from ..protocol.signature import is_public_key, sign_hs256
from ..protocol.websocket import (
    CONTENT_TYPE,
    EVENT_TYPES,
    WebSocketEvent,
    decode_events,
    encode_events,
    parse_close_payload,
)

__all__ = ["GripClient", "WebSocketReply", "grip_sig"]


def grip_sig(key: str | bytes | None = None, iss: str | None = None, ttl: int = 3600) -> str:
    """A ``Grip-Sig`` token as the configured proxy would send it."""
    if key is None:
        for proxy in grip_settings.proxies:
            if proxy.signing_key is not None:
                key, iss = proxy.signing_key, iss or proxy.verify_iss
                break
        else:
            raise ValueError("no proxy key configured: pass key=")
    if is_public_key(key):
        raise ValueError(
            "the configured verify key is a public key (PEM or JWK, ES256/RS256): a test cannot sign with "
            "it; pass the shared secret of a test proxy as key="
        )
    claims: dict[str, Any] = {"exp": int(time.time()) + ttl}
    if iss:
        claims["iss"] = iss
    return sign_hs256(claims, key)


class WebSocketReply:
    """A decoded WebSocket-over-HTTP response."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.status_code = response.status_code
        self.events: list[WebSocketEvent] = (
            decode_events(response.content) if response.status_code == 200 else []
        )

    @property
    def accepted(self) -> bool:
        return bool(self.events) and self.events[0].type == "OPEN"

    @property
    def messages(self) -> list[str | bytes]:
        """Data messages sent to the client, ``m:`` prefix removed (text as str)."""
        out: list[str | bytes] = []
        for e in self.events:
            if e.type in ("TEXT", "BINARY") and e.content is not None and e.content.startswith(b"m:"):
                out.append(e.content[2:].decode() if e.type == "TEXT" else e.content[2:])
        return out

    @property
    def controls(self) -> list[dict[str, Any]]:
        """GRIP control messages (subscribe, detach...) sent to the proxy."""
        return [
            json.loads(e.content[2:])
            for e in self.events
            if e.type == "TEXT" and e.content is not None and e.content.startswith(b"c:")
        ]

    @property
    def set_meta(self) -> dict[str, str]:
        """Connection meta the app set (``Set-Meta-*`` headers), names as the app
        reads them from ``self.meta``; a removed entry maps to ``""``."""
        return _set_meta_headers(self.response)

    @property
    def close_code(self) -> int | None:
        for e in self.events:
            if e.type == "CLOSE":
                return parse_close_payload(e.content)[0]
        return None

    def __getitem__(self, header: str) -> str:
        return self.response[header]  # type: ignore[no-any-return]

    def has_header(self, header: str) -> bool:
        return self.response.has_header(header)  # type: ignore[no-any-return]


class GripClient(Client):
    """Django's test client, with requests sent as through a GRIP proxy.

    Like the proxy, it keeps each WebSocket connection's meta: values the app
    sets (``Set-Meta-*`` reply headers) come back as ``Meta-*`` headers on the
    next requests of the same ``connection_id``, until the connection ends.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connection_meta: dict[str, dict[str, str]] = {}

    def proxied_headers(self, **extra: Any) -> dict[str, Any]:
        return {"HTTP_GRIP_SIG": grip_sig(), **extra}

    def get_proxied(self, path: str, data: Any = None, **extra: Any) -> Any:
        """GET ``path`` carrying a valid ``Grip-Sig``."""
        return self.get(path, data, **self.proxied_headers(**extra))

    def connection_meta(self, connection_id: str = "conn-1") -> dict[str, str]:
        """The meta the proxy holds for ``connection_id`` (sent as ``Meta-*``)."""
        return dict(self._connection_meta.get(connection_id, {}))

    def websocket(
        self,
        path: str,
        events: Iterable[WebSocketEvent | tuple[str, Any]] | bytes = (("OPEN", None),),
        *,
        connection_id: str = "conn-1",
        meta: Mapping[str, str] | None = None,
        signed: bool = True,
        grip_extension: bool = True,
        **extra: Any,
    ) -> WebSocketReply:
        """POST WebSocket events to ``path`` as the proxy would; the decoded reply.

        ``events`` is a list of ``(type, content)`` pairs or
        :class:`~grip_views.protocol.websocket.WebSocketEvent` (type one of
        ``OPEN TEXT BINARY PING PONG CLOSE DISCONNECT``; content bytes, str or
        None), or a whole encoded body as bytes. The connection's meta goes
        along as ``Meta-*`` headers: what the app set on earlier requests of
        ``connection_id``, updated by ``meta``. An ``OPEN`` first starts the
        connection afresh; after a ``CLOSE`` or ``DISCONNECT`` its meta is gone.
        """
        if isinstance(events, (bytes, bytearray, memoryview)):
            body = bytes(events)
            try:
                kinds = [e.type for e in decode_events(body)]
            except ProtocolError:
                kinds = []  # a malformed body, sent on purpose: the app answers it
        else:
            checked = _check_events(events)
            body = encode_events(checked)
            kinds = [etype for etype, _ in checked]
        if kinds[:1] == ["OPEN"]:
            self._connection_meta.pop(connection_id, None)  # a new connection has no meta yet
        held = self._connection_meta.setdefault(connection_id, {})
        for name, value in (meta or {}).items():
            if value:
                held[_meta_key(name)] = value
            else:
                held.pop(_meta_key(name), None)
        # CONTENT_TYPE too: Django's test client leaves it out of a request with an empty
        # body, which is what the proxy's keep-alive requests (Keep-Alive-Interval) are.
        headers: dict[str, Any] = {"HTTP_CONNECTION_ID": connection_id, "CONTENT_TYPE": CONTENT_TYPE}
        if grip_extension:
            headers["HTTP_SEC_WEBSOCKET_EXTENSIONS"] = "grip"
        if signed:
            headers["HTTP_GRIP_SIG"] = grip_sig()
        for name, value in held.items():
            headers["HTTP_META_" + name.upper()] = value
        headers.update(extra)
        response = self.post(path, body, content_type=CONTENT_TYPE, **headers)
        reply = WebSocketReply(response)
        if response.status_code != 200 or {"CLOSE", "DISCONNECT"} & set(kinds):
            # Refused, or the client's close went through: the proxy forgets the connection.
            del self._connection_meta[connection_id]
        else:
            for name, value in reply.set_meta.items():
                if value:
                    held[name] = value
                else:
                    held.pop(name, None)
        return reply


def _meta_key(name: str) -> str:
    """A meta name as the app reads it back: the proxy's ``Meta-X-Y`` is ``x_y``."""
    return name.lower().replace("-", "_")


def _set_meta_headers(response: Any) -> dict[str, str]:
    prefix = "set-meta-"
    return {
        _meta_key(name[len(prefix) :]): value
        for name, value in response.items()
        if name.lower().startswith(prefix) and len(name) > len(prefix)
    }


_EVENTS_ACCEPTED = (
    "events are a list of (type, content) tuples or WebSocketEvent, with type one of "
    f"{', '.join(EVENT_TYPES)} and content bytes, str or None, "
    'e.g. [("OPEN", None), ("TEXT", "hi")]; or the whole encoded body as bytes'
)


def _check_events(events: Any) -> list[tuple[str, bytes | str | None]]:
    """The events as (type, content) pairs, or a TypeError naming what is accepted."""
    if isinstance(events, (str, Mapping)):
        raise TypeError(f"events must not be a {type(events).__name__} ({events!r}): {_EVENTS_ACCEPTED}")
    try:
        items = list(events)
    except TypeError:
        raise TypeError(f"events {events!r} is not a list: {_EVENTS_ACCEPTED}") from None
    if len(items) == 2 and isinstance(items[0], str) and items[0] in EVENT_TYPES:
        raise TypeError(f"events {tuple(items)!r} is one event, not a list of them: {_EVENTS_ACCEPTED}")
    checked: list[tuple[str, bytes | str | None]] = []
    for index, event in enumerate(items):
        if not isinstance(event, (tuple, list)) or len(event) != 2:
            raise TypeError(f"event {index} is {event!r}: {_EVENTS_ACCEPTED}")
        etype, content = event
        if etype not in EVENT_TYPES:
            raise TypeError(f"event {index} has type {etype!r}: {_EVENTS_ACCEPTED}")
        if content is not None and not isinstance(content, (bytes, str)):
            raise TypeError(f"event {index} has content {content!r}: {_EVENTS_ACCEPTED}")
        checked.append((etype, content))
    return checked
