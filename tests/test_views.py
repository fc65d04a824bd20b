"""GripStreamView, GripLongPollView, WebSocketView and JsonWebSocketView under WSGI."""

from __future__ import annotations

import gc
import weakref

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

from grip_views import (
    Channel,
    GripLongPollView,
    GripStreamView,
    JsonWebSocketView,
    RejectConnection,
    WebSocketView,
)
from grip_views.exceptions import InvalidHold
from grip_views.protocol.websocket import WebSocketEvent, close_payload
from grip_views.testing import grip_sig, messages_on, outbox

from . import views

E = WebSocketEvent


# == GripStreamView ===============================================================================
def test_stream_view_answers_its_initial_body_and_holds_on_its_channels(grip_client):
    response = grip_client.get_proxied("/feed/")
    assert response.content == b"[open]\n"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == "feed"
    assert not response.has_header("Grip-Keep-Alive")
    assert not response.has_header("Grip-Link")
    assert not response.has_header("Grip-Status")


def test_stream_view_passes_url_kwargs_to_its_hooks(grip_client):
    response = grip_client.get_proxied("/rooms/lobby/")
    assert response.content == b"welcome to lobby\n"
    assert response["Grip-Channel"] == "room-lobby"


def test_stream_view_sends_keep_alive_next_link_and_intended_status(grip_client):
    response = grip_client.get_proxied("/rooms/lobby/")
    assert response.status_code == 200
    assert response["Grip-Keep-Alive"] == "ping\\n; format=cstring; timeout=20"
    assert response["Grip-Link"] == "</next/?after=1>; rel=next"
    assert response["Grip-Status"] == "202 Accepted"


def test_reliable_stream_holds_with_the_prev_id(grip_client):
    response = grip_client.get_proxied("/rooms/lobby/", {"last": "41"})
    assert response["Grip-Channel"] == "room-lobby, log-lobby; prev-id=41"


def test_on_open_returning_another_status_refuses_without_a_hold(grip_client):
    response = grip_client.get_proxied("/rooms/closed/")
    assert response.status_code == 403
    assert response.content == b"closed room\n"
    assert not response.has_header("Grip-Hold")


def test_permission_denied_in_on_open_answers_403_without_a_hold(grip_client):
    response = grip_client.get_proxied("/forbidden/")
    assert response.status_code == 403
    assert not response.has_header("Grip-Hold")


def test_hooks_see_self_request_args_and_kwargs(grip_client):
    views.HookRecorder.seen.clear()
    response = grip_client.get_proxied("/recorder/3/")
    assert response.json() == {"n": 3}
    assert response["Grip-Channel"] == "rec-3"
    assert response["Content-Type"] == "application/json"
    # One order in every view: on_open (refuse or prepare) before channels_for.
    assert [s[0] for s in views.HookRecorder.seen] == ["on_open", "channels_for"]
    assert all(s[1:] == ((), {"n": 3}) for s in views.HookRecorder.seen)


def test_get_methods_override_the_class_attributes_per_request(grip_client):
    response = grip_client.get_proxied("/dynamic/", {"ka": "beat", "after": "9"})
    assert response["Grip-Keep-Alive"] == "beat; format=cstring; timeout=20"
    assert response["Grip-Link"] == "</dyn/?after=9>; rel=next"
    assert not grip_client.get_proxied("/dynamic/").has_header("Grip-Keep-Alive")


def test_one_denied_channel_refuses_the_whole_request_with_403(grip_client):
    denied = grip_client.get_proxied("/private/")
    assert denied.status_code == 403
    assert not denied.has_header("Grip-Hold")
    assert grip_client.get_proxied("/private/", {"token": "s3cret"})["Grip-Channel"] == "public, private"


def test_every_channel_denied_answers_403_without_a_hold(grip_client):
    response = grip_client.get_proxied("/denied/")
    assert response.status_code == 403
    assert not response.has_header("Grip-Hold")


def test_invalid_channel_name_from_a_view_answers_400(grip_client):
    response = grip_client.get_proxied("/bad-channel/")
    assert response.status_code == 400
    assert b"bad channel" in response.content


def test_view_with_no_channels_fails_with_a_message_naming_it_not_an_assertion(grip_client):
    with pytest.raises(ImproperlyConfigured, match="NoChannelFeed has no channels"):
        grip_client.get_proxied("/no-channel/")


def test_stream_view_refuses_other_methods(grip_client):
    assert grip_client.post("/feed/", HTTP_GRIP_SIG=grip_sig()).status_code == 405


def test_stream_view_called_twice_gives_the_same_answer(grip_client):
    first, second = grip_client.get_proxied("/rooms/a/"), grip_client.get_proxied("/rooms/a/")
    assert first.content == second.content
    assert [first[h] for h in ("Grip-Hold", "Grip-Channel")] == [
        second[h] for h in ("Grip-Hold", "Grip-Channel")
    ]


def test_keep_alive_interval_is_sent_with_the_keep_alive_data(grip_client):
    class Slow(GripStreamView):
        channels = ["x"]
        keep_alive = b"\x00"
        keep_alive_interval = 45

    response = _get_proxied(grip_client, Slow)
    assert response["Grip-Keep-Alive"] == "AA==; format=base64; timeout=45"


def test_bad_keep_alive_interval_fails_loudly(grip_client):
    class TooEager(GripStreamView):
        channels = ["x"]
        keep_alive = "k"
        keep_alive_interval = 1

    with pytest.raises(InvalidHold, match="interval"):
        _get_proxied(grip_client, TooEager)


def test_stream_publish_appends_content_with_the_prefix_once():
    with override_settings(GRIP_PREFIX="app-"):
        shared = Channel("feed")
        GripStreamView.publish(shared, "line\n", id="2", prev_id="1")
        GripStreamView.publish(shared, b"\x00\xff")
        first, second = messages_on("feed")
    assert first == {
        "channel": "app-feed",
        "formats": {"http-stream": {"content": "line\n"}},
        "id": "2",
        "prev-id": "1",
    }
    assert second["channel"] == "app-feed"
    assert "content-bin" in second["formats"]["http-stream"]


def test_stream_publish_close_ends_the_streams():
    GripStreamView.publish_close("feed")
    assert messages_on("feed", "http-stream") == [{"action": "close"}]


# == GripLongPollView ==============================================================================
def test_long_poll_holds_with_the_timeout_and_the_timeout_body(grip_client):
    response = grip_client.get_proxied("/poll/")
    assert response.status_code == 200
    assert response.content == b'{"items": []}'
    assert response["Content-Type"] == "application/json"
    assert response["Grip-Hold"] == "response"
    assert response["Grip-Channel"] == "poll"
    assert response["Grip-Timeout"] == "30"


def test_long_poll_answers_at_once_when_there_is_something_to_say(grip_client):
    response = grip_client.get_proxied("/poll/", {"since": "0"})
    assert response.content == b'{"items": ["old"]}'
    assert not response.has_header("Grip-Hold")


def test_long_poll_timeout_answer_comes_from_on_timeout(grip_client):
    response = grip_client.get_proxied("/cursor/")
    assert response.json() == {"timeout": True}
    assert response["Grip-Timeout"] == "20"


def test_long_poll_sees_the_proxys_last_id_when_called_again(grip_client):
    # Pushpin re-requests a long-poll (with Grip-Last) when a channel gets its first subscriber.
    behind = grip_client.get_proxied("/cursor/", HTTP_GRIP_LAST="cursor; last-id=3")
    assert behind.json() == {"cursor": views.CURSOR, "behind": "3"}
    assert not behind.has_header("Grip-Hold")
    current = grip_client.get_proxied("/cursor/", HTTP_GRIP_LAST=f"cursor; last-id={views.CURSOR}")
    assert current["Grip-Hold"] == "response"


def test_long_poll_is_safe_to_call_twice(grip_client):
    first, second = grip_client.get_proxied("/poll/"), grip_client.get_proxied("/poll/")
    assert first.content == second.content
    assert {h: first[h] for h in ("Grip-Hold", "Grip-Channel", "Grip-Timeout")} == {
        h: second[h] for h in ("Grip-Hold", "Grip-Channel", "Grip-Timeout")
    }
    assert outbox == []


def test_long_poll_publish_sends_an_http_response_in_the_views_content_type():
    views.Poll.publish("poll", '{"items": ["new"]}', status=200, headers={"X-Count": "1"})
    (fmt,) = messages_on("poll", "http-response")
    assert fmt["body"] == '{"items": ["new"]}'
    assert fmt["headers"] == {"Content-Type": "application/json", "X-Count": "1"}
    assert fmt["code"] == 200


def test_long_poll_timeout_below_pushpins_minimum_fails_loudly(grip_client):
    class Hasty(GripLongPollView):
        channels = ["x"]
        timeout = 1

    with pytest.raises(InvalidHold, match="timeout"):
        _get_proxied(grip_client, Hasty)


# == WebSocketView =================================================================================
def test_open_is_accepted_and_subscribed_to_the_views_channels(grip_client):
    reply = grip_client.websocket("/ws/echo/")
    assert reply.status_code == 200
    assert reply.events[0] == E("OPEN")
    assert reply.controls == [{"type": "subscribe", "channel": "chat"}]
    assert views.closes == []


def test_greeting_sent_in_on_open_follows_the_open_event(grip_client):
    reply = grip_client.websocket("/ws/echo/?greet=1")
    assert reply.events[0] == E("OPEN")
    assert reply.messages == ["hello"]


@override_settings(GRIP_PREFIX="app-")
def test_websocket_subscriptions_carry_the_prefix(grip_client):
    assert grip_client.websocket("/ws/echo/").controls == [{"type": "subscribe", "channel": "app-chat"}]


def test_reject_in_on_open_fails_the_handshake_with_the_chosen_status(grip_client):
    reply = grip_client.websocket("/ws/echo/", meta={"user": "mallory"})
    assert reply.status_code == 403
    assert reply.response.content == b"banned\n"
    assert not reply.accepted


def test_reject_connection_from_channels_for_fails_the_handshake(grip_client):
    reply = grip_client.websocket("/ws/channel-refusing/")
    assert reply.status_code == 401
    assert reply.response.content == b"log in first\n"


def test_reject_once_open_closes_with_policy_violation(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("TEXT", b"kick"), ("TEXT", b"ignored")])
    assert reply.status_code == 200
    assert reply.close_code == 1008
    assert reply.messages == []


def test_text_and_binary_messages_are_echoed_in_kind(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("TEXT", "h\u00e9".encode()), ("BINARY", b"\x00\xff")])
    assert reply.events == [E("TEXT", "m:h\u00e9".encode()), E("BINARY", b"m:\x00\xff")]
    assert reply.messages == ["h\u00e9", b"\x00\xff"]


def test_open_and_messages_in_one_request_are_all_handled(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("OPEN", None), ("TEXT", b"a"), ("TEXT", b"b")])
    assert reply.accepted
    assert reply.messages == ["a", "b"]


def test_text_that_is_not_utf8_closes_with_1007(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("TEXT", b"\xff\xfe"), ("TEXT", b"after")])
    assert reply.close_code == 1007
    assert reply.messages == []


def test_ping_is_answered_with_a_pong_carrying_the_same_payload(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("PING", b"p1"), ("PING", None)])
    assert reply.events == [E("PONG", b"p1"), E("PONG")]


def test_ping_arriving_with_open_gets_a_pong(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("OPEN", None), ("PING", b"x")])
    assert reply.events[0] == E("OPEN")
    assert E("PONG", b"x") in reply.events


def test_pong_from_the_client_needs_no_answer(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("PONG", b"x")])
    assert reply.status_code == 200
    assert reply.events == []


def test_client_close_calls_on_close_with_its_code_and_is_echoed(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("CLOSE", close_payload(1001))])
    assert views.closes == [1001]
    assert reply.events == [E("CLOSE", close_payload(1001))]


def test_client_close_without_a_code_is_answered_with_1000(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("CLOSE", None)])
    assert views.closes == [None]
    assert reply.close_code == 1000


def test_disconnect_calls_on_close_with_none_and_is_answered_200(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("DISCONNECT", None)])
    assert reply.status_code == 200
    assert views.closes == [None]
    assert reply.events == []


def test_close_from_a_hook_sends_the_code_and_reason(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("TEXT", b"bye")])
    assert reply.events == [E("CLOSE", close_payload(4001, "bye"))]


def test_close_without_a_code_sends_1000_not_0(grip_client):
    class Closer(WebSocketView):
        def on_message(self, message):
            self.close()

    reply = _websocket_to(grip_client, Closer, [("TEXT", b"x")])
    assert reply.close_code == 1000


def test_messages_after_close_are_not_handled(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("TEXT", b"bye"), ("TEXT", b"later")])
    assert reply.messages == []


def test_subscribe_unsubscribe_and_detach_send_control_messages(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("TEXT", b"leave"), ("TEXT", b"detach")])
    assert reply.controls == [{"type": "unsubscribe", "channel": "chat"}, {"type": "detach"}]


def test_subscribe_denied_by_can_subscribe_sends_nothing_to_the_proxy(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("TEXT", b"join secret")])
    assert reply.messages == ["denied"]
    assert reply.controls == []


def test_meta_set_in_a_hook_is_sent_as_set_meta(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("TEXT", b"name alice")])
    assert reply["Set-Meta-User"] == "alice"


def test_meta_persists_across_requests(grip_client):
    first = grip_client.websocket("/ws/echo/", [("TEXT", b"name bob")])
    persisted = {"user": first["Set-Meta-User"]}  # what the proxy sends back as Meta-User
    second = grip_client.websocket("/ws/echo/", [("TEXT", b"whoami")], meta=persisted)
    assert second.messages == ["bob"]
    assert not second.has_header("Set-Meta-User")


def test_subprotocol_and_meta_from_on_open(grip_client):
    reply = grip_client.websocket("/ws/subprotocol/")
    assert reply.accepted
    assert reply["Sec-WebSocket-Protocol"] == "chat.v1"
    assert reply["Set-Meta-Room"] == "lobby"
    assert reply.controls == [{"type": "subscribe", "channel": "sub"}]


def test_get_on_a_websocket_view_answers_426(grip_client):
    assert grip_client.get_proxied("/ws/echo/").status_code == 426


def test_plain_post_to_a_websocket_view_answers_400(grip_client):
    assert grip_client.post("/ws/echo/", {"a": "b"}, HTTP_GRIP_SIG=grip_sig()).status_code == 400


def test_connection_id_is_available_to_hooks(grip_client):
    class WhoAmI(WebSocketView):
        def on_message(self, message):
            self.send(self.connection_id)

    assert _websocket_to(grip_client, WhoAmI, [("TEXT", b"?")], connection_id="abc-123").messages == [
        "abc-123"
    ]


def test_send_takes_exactly_one_of_text_or_bytes(grip_client):
    class Confused(WebSocketView):
        def on_message(self, message):
            try:
                self.send("a", bytes_data=b"b")
            except TypeError:
                self.send("refused")

    assert _websocket_to(grip_client, Confused, [("TEXT", b"x")]).messages == ["refused"]


# -- origins -------------------------------------------------------------------------------------------
def test_handshake_from_a_foreign_origin_is_refused(grip_client):
    reply = grip_client.websocket("/ws/echo/", HTTP_ORIGIN="https://evil.example")
    assert reply.status_code == 403
    assert b"origin" in reply.response.content


def test_handshake_from_the_sites_own_origin_is_accepted(grip_client):
    assert grip_client.websocket("/ws/echo/", HTTP_ORIGIN="http://testserver").accepted


def test_handshake_without_an_origin_is_accepted(grip_client):
    assert grip_client.websocket("/ws/echo/").accepted


def test_view_allowed_origins_admit_a_partner_site(grip_client):
    assert grip_client.websocket("/ws/partner/", HTTP_ORIGIN="https://app.partner.example").accepted
    assert grip_client.websocket("/ws/echo/", HTTP_ORIGIN="https://app.partner.example").status_code == 403


@override_settings(GRIP_WEBSOCKET_ALLOWED_ORIGINS=["https://*.example.com"])
def test_setting_allowed_origins_admit_wildcard_subdomains(grip_client):
    assert grip_client.websocket("/ws/echo/", HTTP_ORIGIN="https://app.example.com").accepted
    assert grip_client.websocket("/ws/echo/", HTTP_ORIGIN="http://app.example.com").status_code == 403


@override_settings(ALLOWED_HOSTS=["*"])
def test_allowed_hosts_wildcard_does_not_admit_every_origin(grip_client):
    assert grip_client.websocket("/ws/echo/", HTTP_ORIGIN="https://evil.example").status_code == 403


def test_origin_is_only_checked_on_open(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("TEXT", b"hi")], HTTP_ORIGIN="https://evil.example")
    assert reply.messages == ["hi"]


# -- publishing --------------------------------------------------------------------------------------
def test_websocket_publish_sends_text_or_binary_messages():
    WebSocketView.publish("chat", "hi")
    WebSocketView.publish("chat", b"\x00")
    text, binary = messages_on("chat", "ws-message")
    assert text == {"content": "hi"}
    assert binary == {"content-bin": b"AA=="}


def test_websocket_publish_close_carries_the_code():
    WebSocketView.publish_close("chat", code=4000)
    assert messages_on("chat", "ws-message") == [{"action": "close", "code": 4000}]


def test_view_publish_uses_the_format_its_subscribers_expect():
    views.Feed.publish("x", "s")
    views.Poll.publish("x", "p")
    views.Echo.publish("x", "w")
    assert [list(item["formats"]) for item in messages_on("x")] == [
        ["http-stream"],
        ["http-response"],
        ["ws-message"],
    ]


# == JsonWebSocketView ================================================================================
def test_json_messages_are_decoded_and_answered_as_json(grip_client):
    reply = grip_client.websocket("/ws/json/", [("TEXT", b'{"n": [1, 2]}')])
    assert reply.messages == ['{"got":{"n":[1,2]}}']


def test_invalid_json_is_answered_with_an_error_message_not_a_crash(grip_client):
    reply = grip_client.websocket("/ws/json/", [("TEXT", b"{nope"), ("TEXT", b"1")])
    assert reply.status_code == 200
    error, ok = reply.messages
    assert error.startswith('{"error":"invalid JSON')
    assert ok == '{"got":1}'


def test_binary_frame_to_a_json_socket_is_answered_with_an_error(grip_client):
    reply = grip_client.websocket("/ws/json/", [("BINARY", b"{}")])
    assert reply.messages == ['{"error":"expected a JSON text message, got binary"}']


def test_json_publish_encodes_the_message():
    JsonWebSocketView.publish("json", {"a": 1})
    assert messages_on("json", "ws-message") == [{"content": '{"a":1}'}]


def test_custom_json_codec_is_used_both_ways(grip_client):
    class Upper(JsonWebSocketView):
        def decode_json(self, text):
            return text.upper()

        @classmethod
        def encode_json(cls, content):
            return f"<{content}>"

        def on_message(self, message):
            self.send_json(message)

    assert _websocket_to(grip_client, Upper, [("TEXT", b"abc")]).messages == ["<ABC>"]


# == async hooks and handlers =========================================================================
def test_an_async_hook_on_a_sync_view_class_names_the_async_class_to_use(rf):
    class Mixed(GripStreamView):
        channels = ["mixed"]

        async def on_open(self):
            return "x"

    with pytest.raises(ImproperlyConfigured, match=r"on_open\(\) is async def.*AsyncWebSocketView"):
        Mixed.as_view()(rf.get("/"))


def test_async_view_classes_are_async_and_keep_sync_handlers_working(rf):
    from asgiref.sync import async_to_sync

    from grip_views import AsyncGripStreamView

    class Publishing(AsyncGripStreamView):
        channels = ["p"]

        def post(self, request):
            return HttpResponse("posted")

    assert Publishing.view_is_async and not GripStreamView.view_is_async
    view = Publishing.as_view()
    response = async_to_sync(view)(rf.post("/"))
    assert response.content == b"posted"


def test_async_hooks_work_under_wsgi_too(grip_client):
    response = grip_client.get_proxied("/async-feed/")
    assert response.content == b"[async open]\n"
    assert response["Grip-Channel"] == "async-feed"
    assert grip_client.websocket("/ws/async/", [("TEXT", b"x")]).messages == ["async:x"]


def test_reject_connection_is_exported_and_refuses(grip_client):
    class Gate(WebSocketView):
        def on_open(self):
            raise RejectConnection("nope", status=429)

    reply = _websocket_to(grip_client, Gate, [("OPEN", None)])
    assert reply.status_code == 429


# -- helpers -------------------------------------------------------------------------------------------
urlpatterns: list = []


def _websocket_to(client, view_class, events, **kwargs):
    """Send events to a view class defined inside a test, through the whole stack."""
    urlpatterns[:] = [path("dyn/", view_class.as_view())]
    with override_settings(ROOT_URLCONF=__name__):
        return client.websocket("/dyn/", events, **kwargs)


def _get_proxied(client, view_class):
    """GET a view class defined inside a test, through the whole stack, as the proxy."""
    urlpatterns[:] = [path("dyn/", view_class.as_view())]
    with override_settings(ROOT_URLCONF=__name__):
        return client.get_proxied("/dyn/")


def test_stream_whose_channels_for_returns_nothing_answers_without_a_hold(grip_client, rf):
    from grip_views import GripStreamView

    class Nothing(GripStreamView):
        initial_body = "[open]\n"

        def channels_for(self):
            return []

    from grip_views.http import get_hold

    response = Nothing.as_view()(rf.get("/"))
    assert response.status_code == 200
    assert response.content == b"[open]\n"
    assert get_hold(response) is None


def test_event_stream_sends_retry_before_the_initial_body(rf):
    from grip_views import EventStreamView

    class Both(EventStreamView):
        channels = ["x"]
        retry = 2000
        initial_body = ": hello\n\n"

    assert Both.as_view()(rf.get("/")).content == b"retry: 2000\n\n: hello\n\n"


# == 0.2: strict send, HEAD, errors in hooks, one hook order ===========================================
@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda v: v.send(text_data=b"bytes"), "text_data=...) takes str"),
        (lambda v: v.send(bytes_data="text"), "bytes_data=...) takes bytes"),
        (lambda v: v.send(42), "takes str or bytes, got int"),
        (lambda v: v.send(), "exactly one"),
        (lambda v: v.send("a", text_data="b"), "exactly one"),
    ],
)
def test_send_is_strict_about_its_argument_types(grip_client, call, error):
    class Strict(WebSocketView):
        def on_message(self, message):
            try:
                call(self)
            except TypeError as exc:
                self.send(str(exc))

    (said,) = _websocket_to(grip_client, Strict, [("TEXT", b"x")]).messages
    assert error in said


def test_send_keywords_pick_the_frame_type_their_value_has(grip_client):
    class Both(WebSocketView):
        def on_message(self, message):
            self.send(text_data="t")
            self.send(bytes_data=b"b")
            self.send("t2")
            self.send(b"b2")

    reply = _websocket_to(grip_client, Both, [("TEXT", b"x")])
    frames = [(e.type, e.content) for e in reply.events if e.type in ("TEXT", "BINARY")]
    assert frames == [("TEXT", b"m:t"), ("BINARY", b"m:b"), ("TEXT", b"m:t2"), ("BINARY", b"m:b2")]


def test_head_answers_with_an_overridden_get_not_the_base_hold(grip_client):
    class Custom(GripLongPollView):
        channels = ["custom"]

        def get(self, request, *args, **kwargs):
            return HttpResponse("mine")

    urlpatterns[:] = [path("dyn/", Custom.as_view())]
    with override_settings(ROOT_URLCONF=__name__):
        response = grip_client.head("/dyn/", HTTP_GRIP_SIG=grip_sig())
    assert response.status_code == 200
    assert not response.has_header("Grip-Hold")
    assert response["Content-Length"] == "4"


def test_head_on_a_stream_gets_the_same_hold_as_get(grip_client):
    response = grip_client.head("/feed/", HTTP_GRIP_SIG=grip_sig())
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == "feed"


def test_a_view_is_freed_with_its_request_not_left_to_the_garbage_collector(rf):
    # View.setup() binds self.head = self.get, a reference cycle; dispatch() breaks it.
    seen = []

    class Stream(GripStreamView):
        channels = ["c"]

        def on_open(self):
            seen.append(weakref.ref(self))
            return "open"

    gc.collect()
    gc.disable()
    try:
        response = Stream.as_view()(rf.get("/"))
        assert response.content == b"open"
        assert seen[0]() is None
    finally:
        gc.enable()


class _Broken(WebSocketView):
    def on_message(self, message):
        if message == "boom":
            raise RuntimeError("bug in the app")
        self.send(f"echo:{message}")


def test_an_error_in_on_message_closes_with_1011_and_logs_the_connection(grip_client, caplog):
    reply = _websocket_to(
        grip_client, _Broken, [("TEXT", b"a"), ("TEXT", b"boom"), ("TEXT", b"b"), ("TEXT", b"c")]
    )
    assert reply.status_code == 200
    assert reply.messages == ["echo:a"]
    assert reply.close_code == 1011
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "_Broken failed on TEXT event of connection conn-1; closed with 1011" in logged
    assert "2 later events of connection conn-1 were not handled" in logged
    assert any(r.exc_info and "bug in the app" in str(r.exc_info[1]) for r in caplog.records)


def test_an_error_while_opening_is_a_server_error_not_an_accepted_socket(grip_client):
    class BrokenOpen(WebSocketView):
        def on_open(self):
            raise RuntimeError("bug while opening")

    grip_client.raise_request_exception = False
    reply = _websocket_to(grip_client, BrokenOpen, [("OPEN", None)])
    assert reply.status_code == 500
    assert not reply.accepted


def test_a_refusal_in_on_open_protects_channels_for_in_every_view(grip_client):
    seen = []

    class Mixin:
        def on_open(self):
            if not self.request.user.is_authenticated:
                self.reject("log in first", status=401)
            return super().on_open()

        def channels_for(self):
            seen.append("channels_for")
            return [f"user-{self.request.user.email}"]  # AnonymousUser has no email

    class Stream(Mixin, GripStreamView):
        pass

    class Poll(Mixin, GripLongPollView):
        pass

    class Socket(Mixin, WebSocketView):
        pass

    assert _get_proxied(grip_client, Stream).status_code == 401
    assert _get_proxied(grip_client, Poll).status_code == 401
    reply = _websocket_to(grip_client, Socket, [("OPEN", None)])
    assert reply.status_code == 401
    assert reply.response.content == b"log in first\n"
    assert seen == []


def test_async_subscribe_awaits_an_async_can_subscribe(grip_client):
    from grip_views import AsyncWebSocketView

    class Rooms(AsyncWebSocketView):
        async def can_subscribe(self, channel):
            return channel.name != "vip"

        async def on_message(self, message):
            self.send("yes" if await self.asubscribe(message) else "no")

    reply = _websocket_to(grip_client, Rooms, [("TEXT", b"lobby"), ("TEXT", b"vip"), ("TEXT", b"bad name")])
    assert reply.messages == ["yes", "no", "no"]
    assert [c["channel"] for c in reply.controls if c["type"] == "subscribe"] == ["lobby"]


def test_a_wrong_method_is_a_405_with_allow_and_a_one_line_reason(grip_client):
    response = grip_client.put("/feed/")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.content == b"PUT is not allowed here: use GET, HEAD, OPTIONS.\n"
    socket = grip_client.delete("/ws/echo/")
    assert socket.status_code == 405
    assert "POST" in socket["Allow"]
