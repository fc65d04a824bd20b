"""``GripMiddleware``: trust the proxy, decode what it sends, encode what it gets.

On the way in it checks ``Grip-Sig`` and sets ``request.grip``; for a
WebSocket-over-HTTP request from a verified proxy it decodes the events into
``request.grip.websocket`` and exempts the request from CSRF (the signature
is the proof of origin; anything else posting events is refused with 403
before a view runs). On the way out it turns a view's hold into ``Grip-*``
headers and a WebSocket context into the events body. Works under WSGI and
ASGI alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from .conf import grip_settings
from .exceptions import GripError, ProtocolError
from .http import GripInfo, get_hold, text_response
from .protocol.instructions import (
    NO_HOLD_STATUSES,
    Hold,
    held_status,
    hold_header_items,
    parse_features,
    parse_grip_last,
    unsupported_filters,
)
from .protocol.websocket import CONTENT_TYPE, WebSocketContext, decode_events

logger = logging.getLogger(__name__)

_CONNECTION_ID_RE = re.compile(r"[!-~]{1,256}")


class GripMiddleware:
    """Verify ``Grip-Sig``, decode WebSocket-over-HTTP, and write GRIP instructions."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        early = self.process_request(request)
        if early is not None:
            return early
        return self.process_response(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        early = self.process_request(request)
        if early is not None:
            return early
        response = await self.get_response(request)  # type: ignore[misc]
        return self.process_response(request, response)

    # -- in --------------------------------------------------------------------
    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        meta = request.META
        verifier = grip_settings.verifier
        token: str = meta.get("HTTP_GRIP_SIG", "")
        if verifier.required:
            proxied = signed = verifier.is_valid(token) if token else False
        else:
            signed = False
            # Proxies without a key: one cannot be told from a client (W001 warns about it).
            # With no proxy configured nothing is proxied, whatever headers a client sends.
            proxied = bool(grip_settings.proxies) and (
                bool(token) or (meta.get("CONTENT_TYPE") == CONTENT_TYPE and "HTTP_CONNECTION_ID" in meta)
            )
        info = GripInfo(proxied, signed)
        request.grip = info  # type: ignore[attr-defined]
        if proxied:
            if "HTTP_GRIP_FEATURE" in meta:
                info.features = parse_features(meta["HTTP_GRIP_FEATURE"])
            if "HTTP_GRIP_LAST" in meta:
                info.last = parse_grip_last(meta["HTTP_GRIP_LAST"], grip_settings.prefix)
        if request.method == "POST" and meta.get("CONTENT_TYPE", "").startswith(CONTENT_TYPE):
            return self._open_websocket(request, info)
        return None

    def _open_websocket(self, request: HttpRequest, info: GripInfo) -> HttpResponse | None:
        if not info.proxied:
            why = "Grip-Sig missing or invalid" if grip_settings.proxies else "no GRIP proxy is configured"
            return text_response(
                403, f"WebSocket-over-HTTP requests are accepted only from the GRIP proxy ({why})."
            )
        connection_id = request.META.get("HTTP_CONNECTION_ID", "")
        if not _CONNECTION_ID_RE.fullmatch(connection_id):
            return text_response(400, "Missing or malformed Connection-Id header.")
        try:
            events = decode_events(request.body)
        except RequestDataTooBig:
            return text_response(413, "WebSocket-events body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE.")
        except ProtocolError as exc:
            return text_response(400, f"Malformed WebSocket-events body: {exc}")
        extensions = request.META.get("HTTP_SEC_WEBSOCKET_EXTENSIONS", "")
        info.websocket = WebSocketContext(
            connection_id,
            events,
            headers=request.META,  # Meta-* headers, read only if the view uses meta
            grip_extension=extensions == "grip"  # what Pushpin sends
            or any(e.split(";")[0].strip() == "grip" for e in extensions.split(",")),
            prefix=grip_settings.prefix,
            features=info.features,
            subscription_max=grip_settings.connection_subscription_max,
        )
        # The signature, not a CSRF token, proves these requests came from the proxy.
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return None

    # -- out -------------------------------------------------------------------
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        info: GripInfo | None = getattr(request, "grip", None)
        if info is None:
            return response
        if info.websocket is not None:
            return self._finish_websocket(info.websocket, response)
        hold = get_hold(response)
        if hold is None:
            return response
        if not info.proxied and (
            grip_settings.proxy_required or grip_settings.verifier.required or not grip_settings.proxies
        ):
            if grip_settings.proxy_required:
                return text_response(
                    501, "Not Implemented: this endpoint must be reached through a GRIP proxy."
                )
            return response  # a direct client gets the first answer, never a hold
        try:
            headers = hold_header_items(hold, grip_settings.prefix)
        except GripError as exc:  # pragma: no cover - Hold checks its parts when built
            logger.error("grip_views: could not write hold for %s: %s", request.path, exc)
            return text_response(500, "Invalid GRIP hold.")
        code = response.status_code
        bodiless = code in NO_HOLD_STATUSES
        if bodiless and hold.mode == "stream" and hold.status is None:
            # The proxy would send the bodiless status and drop whatever is published.
            logger.warning(
                "grip_views: %s answered %d, which has no body: its stream hold was not written",
                request.path,
                code,
            )
            return response
        if hold.filters or len(hold.channels) > grip_settings.connection_subscription_max:
            _check_subscriptions(request, hold, info.features)
        if bodiless or hold.status is not None:
            # Otherwise the proxy gets the response's own status, with no Grip-Status.
            # The reason is read only for a status sent as Grip-Status (reason_phrase is a property).
            status, grip_status = held_status(hold, code, response.reason_phrase if bodiless else None)
            if grip_status is not None:
                headers = (*headers, ("Grip-Status", grip_status))
            if status != code:
                # The proxy sends the client the intended status (Grip-Status).
                response.status_code = status
                response.reason_phrase = "OK"
        response_headers = response.headers  # response[name] = value, minus a call per header
        for name, value in headers:
            response_headers[name] = value
        return response

    def _finish_websocket(self, ctx: WebSocketContext, response: HttpResponseBase) -> HttpResponseBase:
        if response.status_code != 200 or response.streaming:
            # A refused handshake (or an error): the proxy relays it as such.
            return response
        if ctx.opening and not ctx.accepted:
            return text_response(403, "WebSocket connection was not accepted.")
        try:
            headers = ctx.response_headers()
        except GripError as exc:
            logger.error("grip_views: bad connection meta on %s: %s", ctx.connection_id, exc)
            return text_response(500, "Invalid WebSocket connection meta.")
        body = ctx.response_body()
        response.content = body  # type: ignore[attr-defined]
        response_headers = response.headers
        # pop(), not has_header(): no KeyError raised and caught when it is absent (the usual).
        if response_headers.pop("Content-Length", None) is not None:
            response_headers["Content-Length"] = str(len(body))
        for name, value in headers:
            if name == "Content-Type" and response_headers.get(name) == value:
                continue  # WebSocketView.post() answers with it: not written twice
            response_headers[name] = value
        return response


def _check_subscriptions(request: HttpRequest, hold: Hold, features: frozenset[str]) -> None:
    """Say in the log what the proxy would do silently: subscribe a hold to no
    more than its ``connection_subscription_max`` channels, and deliver
    unfiltered when it does not know a filter."""
    limit = grip_settings.connection_subscription_max
    if len(hold.channels) > limit:
        logger.error(
            "grip_views: %s holds on %d channels; Pushpin subscribes a connection to %d at most "
            "(connection_subscription_max) and drops the rest: %s. Use fewer channels, or raise "
            "[handler] connection_subscription_max in pushpin.conf and GRIP_CONNECTION_SUBSCRIPTION_MAX "
            "together.",
            request.path,
            len(hold.channels),
            limit,
            ", ".join(c.name for c in hold.channels[limit:]),
        )
    missing = unsupported_filters(hold.filters, features)
    if missing:
        logger.warning(
            "grip_views: the proxy does not list %s in Grip-Feature: %s may get every message unfiltered",
            ", ".join(f"filter:{f}" for f in missing),
            request.path,
        )
