"""The test helpers users get (grip_views.testing): GripClient, grip_sig, the outbox."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import override_settings
from gripcontrol import HttpStreamFormat

import grip_views
from grip_views.conf import grip_settings
from grip_views.protocol.websocket import CONTENT_TYPE, close_payload, encode_events
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
