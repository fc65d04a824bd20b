"""Requests that look proxied: Django's test client signed and encoded as a GRIP proxy would."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.test import Client

from ..conf import grip_settings
from ..protocol.signature import is_public_key, sign_hs256
from ..protocol.websocket import (
    CONTENT_TYPE,
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
    """Django's test client, with requests sent as through a GRIP proxy."""

    def proxied_headers(self, **extra: Any) -> dict[str, Any]:
        return {"HTTP_GRIP_SIG": grip_sig(), **extra}

    def get_proxied(self, path: str, data: Any = None, **extra: Any) -> Any:
        """GET ``path`` carrying a valid ``Grip-Sig``."""
        return self.get(path, data, **self.proxied_headers(**extra))

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
        """POST WebSocket events to ``path`` as the proxy would; the decoded reply."""
        body = events if isinstance(events, bytes) else encode_events(list(events))
        headers: dict[str, Any] = {"HTTP_CONNECTION_ID": connection_id}
        if grip_extension:
            headers["HTTP_SEC_WEBSOCKET_EXTENSIONS"] = "grip"
        if signed:
            headers["HTTP_GRIP_SIG"] = grip_sig()
        for name, value in (meta or {}).items():
            headers["HTTP_META_" + name.upper().replace("-", "_")] = value
        headers.update(extra)
        response = self.post(path, body, content_type=CONTENT_TYPE, **headers)
        return WebSocketReply(response)
