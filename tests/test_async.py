"""The middleware and views under ASGI (Django's AsyncClient); async def hooks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.http import HttpResponse
from django.test import AsyncClient, override_settings

from grip_views.middleware import GripMiddleware
from grip_views.protocol.websocket import CONTENT_TYPE, close_payload, encode_events
from grip_views.testing import WebSocketReply, grip_sig

from . import views


def get(path: str, *, signed: bool = True, client: AsyncClient | None = None, **headers: str) -> Any:
    if signed:
        headers["Grip-Sig"] = grip_sig()
    return async_to_sync((client or AsyncClient()).get)(path, headers=headers)


def websocket(
    path: str,
    events: Iterable[tuple[str, Any]] = (("OPEN", None),),
    *,
    signed: bool = True,
    client: AsyncClient | None = None,
    **headers: str,
) -> WebSocketReply:
    headers = {"Connection-Id": "conn-1", "Sec-WebSocket-Extensions": "grip", **headers}
    if signed:
        headers["Grip-Sig"] = grip_sig()
    post = (client or AsyncClient()).post
    response = async_to_sync(post)(
        path, encode_events(list(events)), content_type=CONTENT_TYPE, headers=headers
    )
    return WebSocketReply(response)


# -- the middleware ------------------------------------------------------------------------------------
def test_middleware_is_async_in_an_async_stack_and_sync_in_a_sync_one():
    async def async_view(request):
        return HttpResponse()

    assert iscoroutinefunction(GripMiddleware(async_view))
    assert not iscoroutinefunction(GripMiddleware(lambda request: HttpResponse()))
    assert GripMiddleware.sync_capable and GripMiddleware.async_capable


def test_request_grip_is_set_under_asgi():
    assert get("/grip-info/").json()["signed"] is True
    assert get("/grip-info/", signed=False).json()["proxied"] is False


def test_sync_stream_view_holds_under_asgi():
    response = get("/feed/")
    assert response.content == b"[open]\n"
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == "feed"


def test_direct_request_gets_no_hold_under_asgi():
    assert not get("/feed/", signed=False).has_header("Grip-Hold")


@override_settings(GRIP_PROXY_REQUIRED=True)
def test_hold_on_a_direct_request_answers_501_under_asgi():
    assert get("/feed/", signed=False).status_code == 501


def test_unsigned_websocket_events_are_refused_under_asgi():
    assert websocket("/ws/echo/", signed=False).status_code == 403


def test_verified_websocket_events_are_csrf_exempt_under_asgi():
    reply = websocket("/ws/echo/", [("TEXT", b"hi")], client=AsyncClient(enforce_csrf_checks=True))
    assert reply.messages == ["hi"]


def test_view_headers_are_kept_on_websocket_replies_under_asgi():
    reply = websocket("/ws/function/")
    assert reply["X-Custom"] == "kept"
    assert reply["Content-Type"] == CONTENT_TYPE


# -- async def hooks ----------------------------------------------------------------------------------
def test_async_stream_hooks_are_awaited():
    response = get("/async-feed/")
    assert response.content == b"[async open]\n"
    assert response["Grip-Channel"] == "async-feed"


def test_async_long_poll_hooks_are_awaited():
    held = get("/async-poll/")
    assert held.content == b"nothing yet"
    assert held["Grip-Timeout"] == "10"
    now = get("/async-poll/?now=1")
    assert now.content == b"now"
    assert not now.has_header("Grip-Hold")


def test_async_websocket_hook_is_awaited():
    assert websocket("/ws/async/", [("OPEN", None), ("TEXT", b"x")]).messages == ["async:x"]


def test_sync_websocket_view_works_under_asgi():
    reply = websocket("/ws/echo/", [("OPEN", None), ("PING", b"p"), ("TEXT", b"hi")])
    assert reply.accepted
    assert reply.messages == ["hi"]
    assert ("PONG", b"p") in reply.events


def test_async_on_open_can_refuse_the_handshake():
    reply = websocket("/ws/async-json/", **{"Meta-User": "mallory"})
    assert reply.status_code == 401
    assert reply.response.content == b"banned\n"


def test_async_json_socket_decodes_answers_and_closes():
    reply = websocket(
        "/ws/async-json/",
        [("OPEN", None), ("TEXT", b'{"a": 1}'), ("TEXT", b"{bad"), ("CLOSE", close_payload(1000))],
    )
    assert reply.accepted
    assert reply.controls == [{"type": "subscribe", "channel": "ajson"}]
    assert reply.messages[0] == '{"async":{"a":1}}'
    assert reply.messages[1].startswith('{"error":"invalid JSON')
    assert reply.close_code == 1000
    assert views.closes == [("async", 1000)]


def test_sync_hooks_of_an_async_view_do_not_run_on_the_event_loop():
    reply = websocket("/ws/mixed/", [("OPEN", None), ("TEXT", b"m"), ("DISCONNECT", None)])
    assert reply.status_code == 200, reply.response.content
    assert reply.messages == ["sync work done", "async:m"]
    assert views.closes == [("mixed", "sync work done")]


def test_async_view_works_under_wsgi_too(grip_client):
    reply = grip_client.websocket("/ws/mixed/", [("OPEN", None), ("TEXT", b"w")])
    assert reply.messages == ["sync work done", "async:w"]


def test_async_def_function_view_handles_websocket_events_under_asgi_and_wsgi(grip_client):
    events = [("OPEN", None), ("TEXT", b"abc")]
    assert websocket("/ws/async-function/", events).messages == ["cba"]
    assert grip_client.websocket("/ws/async-function/", events).messages == ["cba"]


@pytest.mark.parametrize("path", ["/async-feed/", "/async-poll/"])
def test_async_views_refuse_other_methods_under_asgi(path):
    response = async_to_sync(AsyncClient().put)(path, headers={"Grip-Sig": grip_sig()})
    assert response.status_code == 405
