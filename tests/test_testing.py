"""The test helpers users get (grip_views.testing): GripClient, grip_sig, the outbox."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import include, path
from gripcontrol import HttpStreamFormat, WebSocketMessageFormat

import grip_views
from grip_views import WebSocketView
from grip_views.conf import grip_settings
from grip_views.exceptions import InvalidChannel
from grip_views.protocol.instructions import Channel
from grip_views.protocol.websocket import CONTENT_TYPE, WebSocketEvent, close_payload, encode_events
from grip_views.testing import GripClient, InMemoryPublisher, WebSocketReply, grip_sig, messages_on, outbox

KEY = "a-test-key-that-is-at-least-32-bytes-long"


# -- grip_sig ------------------------------------------------------------------------------------------
def test_grip_sig_is_signed_as_the_configured_proxy_would_sign():
    claims = grip_settings.verifier.verify(grip_sig())
    assert claims["iss"] == "pushpin"


def test_grip_sig_with_a_past_ttl_does_not_verify():
    assert not grip_settings.verifier.is_valid(grip_sig(ttl=-10))


def test_grip_sig_with_an_explicit_key_and_issuer():
    other = "another-key-that-is-at-least-32-bytes"
    with override_settings(GRIP_PROXIES=[{"verify_key": other, "verify_iss": "fanout"}]):
        assert grip_settings.verifier.is_valid(grip_sig(key=other, iss="fanout"))
        assert not grip_settings.verifier.is_valid(grip_sig(key=KEY, iss="fanout"))


def test_grip_sig_without_a_configured_key_says_to_pass_one():
    with override_settings(GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:1"}]):
        with pytest.raises(ValueError, match="key="):
            grip_sig()


# -- GripClient -----------------------------------------------------------------------------------------
def test_get_proxied_sends_a_request_the_middleware_trusts(grip_client):
    assert grip_client.get_proxied("/grip-info/").json()["signed"] is True


def test_get_proxied_passes_query_and_extra_headers(grip_client):
    response = grip_client.get_proxied("/cursor/", {"x": "1"}, HTTP_GRIP_LAST="cursor; last-id=1")
    assert response.json()["behind"] == "1"


def test_proxied_headers_carry_grip_sig_and_extras():
    headers = GripClient().proxied_headers(HTTP_X_A="b")
    assert grip_settings.verifier.is_valid(headers["HTTP_GRIP_SIG"])
    assert headers["HTTP_X_A"] == "b"


def test_websocket_opens_by_default_and_decodes_the_reply(grip_client):
    reply = grip_client.websocket("/ws/echo/")
    assert isinstance(reply, WebSocketReply)
    assert reply.accepted
    assert reply.status_code == 200
    assert reply["Content-Type"] == CONTENT_TYPE
    assert reply.has_header("Sec-WebSocket-Extensions")


def test_websocket_takes_a_raw_body_meta_and_a_connection_id(grip_client):
    body = encode_events([("TEXT", b"whoami")])
    reply = grip_client.websocket("/ws/echo/", body, meta={"user": "carol"}, connection_id="c-9")
    assert reply.messages == ["carol"]


def test_unsigned_websocket_is_refused(grip_client):
    assert grip_client.websocket("/ws/echo/", signed=False).status_code == 403


def test_reply_splits_messages_controls_and_close_code(grip_client):
    reply = grip_client.websocket(
        "/ws/echo/", [("OPEN", None), ("TEXT", b"t"), ("BINARY", b"\x01"), ("TEXT", b"bye")]
    )
    assert reply.messages == ["t", b"\x01"]
    assert reply.controls == [{"type": "subscribe", "channel": "chat"}]
    assert reply.close_code == 4001


def test_reply_without_close_has_no_close_code(grip_client):
    assert grip_client.websocket("/ws/echo/").close_code is None


def test_refused_reply_has_no_events():
    reply = WebSocketReply(HttpResponse(b"OPEN\r\n", status=403))
    assert reply.events == []
    assert not reply.accepted


def test_reply_reads_unprefixed_events_as_neither_messages_nor_controls():
    body = encode_events([("TEXT", b"plain"), ("CLOSE", close_payload(1000))])
    reply = WebSocketReply(HttpResponse(body, content_type=CONTENT_TYPE))
    assert (reply.messages, reply.controls, reply.close_code) == ([], [], 1000)


# -- the outbox -----------------------------------------------------------------------------------------
def test_outbox_collects_every_publish_in_order():
    grip_views.publish("a", HttpStreamFormat("1"))
    grip_views.publish("b", HttpStreamFormat("2"))
    assert [i["channel"] for i in outbox] == ["a", "b"]


def test_outbox_starts_empty_in_every_test():
    assert outbox == []


def test_in_memory_publisher_copies_items():
    item = {"channel": "a", "formats": {"http-stream": {"content": "x"}}}
    InMemoryPublisher().publish_items([item])
    item["channel"] = "changed"
    assert messages_on("a") == [{"channel": "a", "formats": {"http-stream": {"content": "x"}}}]


def test_messages_on_filters_one_format():
    grip_views.publish("f", [HttpStreamFormat("s\n"), WebSocketMessageFormat("w")])
    assert messages_on("f", "http-stream") == [{"content": "s\n"}]
    assert messages_on("f", "ws-message") == [{"content": "w"}]
    assert messages_on("f", "http-response") == []


@override_settings(GRIP_PREFIX="app.")
def test_messages_on_takes_your_channel_name_or_the_prefixed_one_the_outbox_shows():
    grip_views.publish("news", HttpStreamFormat("x\n"))
    assert [i["channel"] for i in outbox] == ["app.news"]
    assert messages_on("news") == messages_on("app.news") == outbox


@override_settings(GRIP_PREFIX="app.")
def test_messages_on_a_name_starting_with_the_prefix_finds_it_published_either_way():
    grip_views.publish("app.x", HttpStreamFormat("1\n"))  # reaches the proxy as "app.app.x"
    grip_views.publish("x", HttpStreamFormat("2\n"))  # reaches it as "app.x"
    assert messages_on("app.x", "http-stream") == [{"content": "1\n"}, {"content": "2\n"}]
    assert messages_on("x", "http-stream") == [{"content": "2\n"}]


def test_messages_on_takes_a_channel_object_and_refuses_what_is_not_a_channel():
    grip_views.publish("c", HttpStreamFormat("x\n"))
    assert len(messages_on(Channel("c", prev_id="1"))) == 1
    with pytest.raises(InvalidChannel):
        messages_on(42)  # type: ignore[arg-type]


# -- WebSocket meta kept per connection, like the proxy does ---------------------------------------------
class MetaSocket(WebSocketView):
    """``set k v`` / ``del k`` / ``get k`` on the connection's meta."""

    def on_message(self, message):
        verb, _, rest = message.partition(" ")
        key, _, value = rest.partition(" ")
        if verb == "set":
            self.meta[key] = value
        elif verb == "del":
            del self.meta[key]
        self.send(self.meta.get(key, "-"))


urlpatterns = [path("meta/", MetaSocket.as_view()), path("", include("tests.urls"))]
meta_urls = pytest.mark.urls(__name__)


@meta_urls
def test_meta_the_app_set_comes_back_on_the_next_request_of_the_connection(grip_client):
    opened = grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")])
    assert opened.set_meta == {"user": "alice"}
    assert grip_client.connection_meta() == {"user": "alice"}
    assert grip_client.websocket("/meta/", [("TEXT", "get user")]).messages == ["alice"]
    assert grip_client.websocket("/meta/", [("TEXT", "get user")]).set_meta == {}  # unchanged: not set again


@meta_urls
def test_meta_is_kept_per_connection_id(grip_client):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")], connection_id="a")
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user bob")], connection_id="b")
    assert grip_client.websocket("/meta/", [("TEXT", "get user")], connection_id="a").messages == ["alice"]
    assert grip_client.websocket("/meta/", [("TEXT", "get user")], connection_id="b").messages == ["bob"]
    assert grip_client.connection_meta("c") == {}


@meta_urls
def test_meta_the_app_removed_is_no_longer_sent(grip_client):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set room 7")])
    removed = grip_client.websocket("/meta/", [("TEXT", "del room")])
    assert removed.set_meta == {"room": ""}
    assert grip_client.connection_meta() == {}
    assert grip_client.websocket("/meta/", [("TEXT", "get room")]).messages == ["-"]


@meta_urls
@pytest.mark.parametrize("ending", [[("CLOSE", close_payload(1000))], [("DISCONNECT", None)]])
def test_meta_is_forgotten_when_the_connection_ends(grip_client, ending):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")])
    grip_client.websocket("/meta/", [("TEXT", "get user"), *ending])
    assert grip_client.connection_meta() == {}
    assert grip_client.websocket("/meta/", [("TEXT", "get user")]).messages == ["-"]


@meta_urls
def test_a_new_open_on_the_same_connection_id_starts_without_meta(grip_client):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")])
    assert grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "get user")]).messages == ["-"]


@meta_urls
def test_meta_given_by_the_test_is_merged_into_what_the_connection_holds(grip_client):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")])
    reply = grip_client.websocket("/meta/", [("TEXT", "get room")], meta={"room": "9"})
    assert reply.messages == ["9"]
    assert grip_client.connection_meta() == {"user": "alice", "room": "9"}
    grip_client.websocket("/meta/", [("TEXT", "get room")], meta={"room": ""})  # "" removes, as Set-Meta does
    assert grip_client.connection_meta() == {"user": "alice"}


def test_a_refused_open_keeps_no_meta(grip_client):
    assert grip_client.websocket("/ws/echo/", meta={"user": "mallory"}).status_code == 403
    assert grip_client.connection_meta() == {}


def test_meta_set_by_the_app_through_a_raw_body_is_kept_too(grip_client):
    grip_client.websocket("/ws/echo/", encode_events([("OPEN", None), ("TEXT", b"name carol")]))
    assert grip_client.websocket("/ws/echo/", encode_events([("TEXT", b"whoami")])).messages == ["carol"]


# -- events the test client refuses, saying what it takes --------------------------------------------------
@pytest.mark.parametrize(
    ("events", "says"),
    [
        ([{"type": "TEXT", "content": "hi"}], "event 0 is {'type'"),
        ({"type": "TEXT", "content": "hi"}, "must not be a dict"),
        ("TEXT hi", "must not be a str"),
        (("TEXT", b"hi"), "is one event, not a list"),
        ([("OPEN", None), ("SEND", b"x")], "event 1 has type 'SEND'"),
        ([("TEXT", 5)], "event 0 has content 5"),
        ([("TEXT",)], "event 0 is"),
        (7, "is not a list"),
    ],
)
def test_events_that_are_not_events_raise_a_type_error_naming_what_is_accepted(grip_client, events, says):
    with pytest.raises(TypeError) as raised:
        grip_client.websocket("/ws/echo/", events)
    assert says in str(raised.value)
    assert "(type, content) tuples or WebSocketEvent" in str(raised.value)
    assert "OPEN, TEXT, BINARY, PING, PONG, CLOSE, DISCONNECT" in str(raised.value)


def test_events_may_be_websocket_events_lists_or_str_content(grip_client):
    reply = grip_client.websocket("/ws/echo/", [WebSocketEvent("OPEN"), ["TEXT", "h\u00e9"]])
    assert reply.messages == ["h\u00e9"]


def test_a_malformed_raw_body_still_reaches_the_app(grip_client):
    assert grip_client.websocket("/ws/echo/", b"TEXT 9\r\nshort\r\n").status_code == 400
