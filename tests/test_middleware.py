"""GripMiddleware under WSGI: Grip-Sig, request.grip, holds, WebSocket-over-HTTP."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.http import HttpResponse, HttpResponseNotModified
from django.test import override_settings

from grip_views.conf import grip_settings
from grip_views.http import set_hold
from grip_views.middleware import GripMiddleware
from grip_views.protocol.instructions import Hold
from grip_views.protocol.signature import sign_hs256
from grip_views.protocol.websocket import CONTENT_TYPE, decode_events
from grip_views.testing import GripClient, grip_sig

KEY = "a-test-key-that-is-at-least-32-bytes-long"
NO_KEY = [{"control_uri": "http://127.0.0.1:1"}]


def info(client, **headers) -> dict:
    return client.get("/grip-info/", **headers).json()


# -- request.grip ------------------------------------------------------------------------
def test_direct_request_is_neither_proxied_nor_signed(client):
    assert info(client) == {"proxied": False, "signed": False, "features": [], "last": {}, "websocket": False}


def test_request_with_a_valid_grip_sig_is_proxied_and_signed(client):
    assert info(client, HTTP_GRIP_SIG=grip_sig()) | {"last": {}} == {
        "proxied": True,
        "signed": True,
        "features": [],
        "last": {},
        "websocket": False,
    }


@pytest.mark.parametrize(
    "token",
    [
        sign_hs256({"iss": "pushpin", "exp": int(time.time()) + 60}, "some-other-key-that-is-32-bytes-long"),
        sign_hs256({"iss": "pushpin", "exp": int(time.time()) - 1}, KEY),
        sign_hs256({"iss": "not-pushpin", "exp": int(time.time()) + 60}, KEY),
        "garbage",
    ],
    ids=["forged", "expired", "wrong-issuer", "garbage"],
)
def test_request_with_a_bad_grip_sig_is_not_proxied(client, token):
    assert info(client, HTTP_GRIP_SIG=token)["proxied"] is False


def test_features_and_last_ids_are_read_from_a_verified_proxy(client):
    got = info(
        client,
        HTTP_GRIP_SIG=grip_sig(),
        HTTP_GRIP_FEATURE="status, skip-self",
        HTTP_GRIP_LAST="feed; last-id=12, other; last-id=3",
    )
    assert got["features"] == ["skip-self", "status"]
    assert got["last"] == {"feed": "12", "other": "3"}


def test_grip_headers_sent_by_a_client_directly_are_ignored(client):
    got = info(client, HTTP_GRIP_FEATURE="status", HTTP_GRIP_LAST="feed; last-id=12")
    assert got["features"] == [] and got["last"] == {}


@override_settings(GRIP_PREFIX="app-")
def test_last_ids_lose_the_grip_prefix(client):
    assert info(client, HTTP_GRIP_SIG=grip_sig(), HTTP_GRIP_LAST="app-feed; last-id=4")["last"] == {
        "feed": "4"
    }


@override_settings(GRIP_PROXIES=NO_KEY)
def test_without_a_key_any_grip_sig_counts_as_proxied_but_not_signed(client):
    assert info(client, HTTP_GRIP_SIG="whatever") | {"last": {}} == {
        "proxied": True,
        "signed": False,
        "features": [],
        "last": {},
        "websocket": False,
    }
    assert info(client)["proxied"] is False


@override_settings(GRIP_PROXIES=[], GRIP_URL=None)
def test_with_no_proxy_configured_no_request_counts_as_proxied(client):
    for headers in (
        {"HTTP_GRIP_SIG": "whatever"},
        {"HTTP_GRIP_SIG": grip_sig(key=KEY)},
        {"CONTENT_TYPE": CONTENT_TYPE, "HTTP_CONNECTION_ID": "c1"},
    ):
        assert info(client, **headers)["proxied"] is False, headers


@override_settings(GRIP_PROXIES=[], GRIP_URL=None)
def test_with_no_proxy_configured_holds_are_never_written(client):
    response = client.get("/feed/", HTTP_GRIP_SIG="whatever")
    assert response.status_code == 200
    assert response.content == b"[open]\n"
    assert not any(name.lower().startswith("grip-") for name in response.headers)


@override_settings(GRIP_PROXIES=[], GRIP_URL=None)
def test_with_no_proxy_configured_websocket_events_are_refused_saying_why(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("OPEN", None)], signed=False, HTTP_GRIP_SIG="whatever")
    assert reply.status_code == 403
    assert b"no GRIP proxy is configured" in reply.response.content


@override_settings(GRIP_PROXIES=[{"verify_key": KEY, "verify_iss": "pushpin"}])
def test_proxy_with_only_a_verify_key_verifies_requests(client):
    assert info(client, HTTP_GRIP_SIG=grip_sig())["signed"] is True
    assert (
        info(client, HTTP_GRIP_SIG=grip_sig(key="wrong-key-wrong-key-wrong-key-wrong!!"))["signed"] is False
    )


def test_es256_grip_sig_from_a_fanout_style_proxy_verifies(client):
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = jwt.encode({"iss": "fanout", "exp": int(time.time()) + 60}, private, algorithm="ES256")
    with override_settings(GRIP_PROXIES=[{"verify_key": public.decode(), "verify_iss": "fanout"}]):
        assert info(client, HTTP_GRIP_SIG=token)["signed"] is True
        assert info(client, HTTP_GRIP_SIG=grip_sig(key=KEY, iss="fanout"))["signed"] is False


def test_es256_grip_sig_verifies_with_a_jwk_from_a_fanout_style_grip_url(client):
    from jwt.algorithms import ECAlgorithm

    private = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private.public_key())
    url = "https://api.fastly.com/service/svc?" + urlencode(
        {"key": "api-token", "verify-iss": "fastly:svc", "verify-key": jwk}
    )
    token = jwt.encode({"iss": "fastly:svc", "exp": int(time.time()) + 60}, private, algorithm="ES256")
    with override_settings(GRIP_PROXIES=[], GRIP_URL=url):
        assert info(client, HTTP_GRIP_SIG=token)["signed"] is True
        assert (
            info(client, HTTP_GRIP_SIG=sign_hs256({"iss": "fastly:svc", "exp": 2**31}, jwk))["signed"]
            is False
        )
        with pytest.raises(ValueError, match="public key"):
            grip_sig()  # a test cannot sign as a proxy whose key is public, JWK or PEM


@override_settings(GRIP_PROXIES=[], GRIP_URL="http://127.0.0.1:5561/?iss=pushpin&key=" + KEY)
def test_grip_url_is_not_appended_again_on_every_request(client):
    for _ in range(3):
        assert info(client, HTTP_GRIP_SIG=grip_sig())["signed"] is True
    assert len(grip_settings.proxies) == 1
    assert len(grip_settings.verify_keys) == 1


# -- holds -------------------------------------------------------------------------------
def test_proxied_request_gets_hold_headers(grip_client):
    response = grip_client.get_proxied("/feed/")
    assert response.status_code == 200
    assert response.content == b"[open]\n"
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == "feed"


def test_direct_request_gets_the_first_answer_without_any_hold(client):
    response = client.get("/feed/")
    assert response.status_code == 200
    assert response.content == b"[open]\n"
    assert not any(name.lower().startswith("grip-") for name in response.headers)


def test_forged_signature_gets_no_hold(client):
    forged = sign_hs256(
        {"iss": "pushpin", "exp": int(time.time()) + 60}, "some-other-key-that-is-32-bytes-long"
    )
    assert not client.get("/feed/", HTTP_GRIP_SIG=forged).has_header("Grip-Hold")


@override_settings(GRIP_PROXY_REQUIRED=True)
def test_hold_on_a_direct_request_answers_501_when_the_proxy_is_required(client, grip_client):
    response = client.get("/feed/")
    assert response.status_code == 501
    assert not response.has_header("Grip-Hold")
    assert grip_client.get_proxied("/feed/")["Grip-Hold"] == "stream"


@override_settings(GRIP_PROXY_REQUIRED=True)
def test_proxy_required_does_not_touch_responses_without_a_hold(client):
    assert client.get("/grip-info/").status_code == 200


@override_settings(GRIP_PROXIES=NO_KEY)
def test_without_a_key_a_direct_request_still_gets_the_hold_headers(client):
    # Nothing tells a proxy from a client then (system check W001 warns about it).
    assert client.get("/feed/")["Grip-Hold"] == "stream"


def test_intended_non_200_status_is_sent_as_grip_status_with_a_200_response(grip_client):
    response = grip_client.get_proxied("/rooms/lobby/")
    assert response.status_code == 200
    assert response["Grip-Status"] == "202 Accepted"


def _held_through_middleware(rf, response: HttpResponse, **headers) -> HttpResponse:
    set_hold(response, Hold("response", ["etag-feed"], timeout=30))
    return GripMiddleware(lambda request: response)(rf.get("/", HTTP_GRIP_SIG=grip_sig(), **headers))


@pytest.mark.parametrize(
    ("response", "grip_status"),
    [
        (HttpResponseNotModified(), "304 Not Modified"),
        (HttpResponse(status=204), "204 No Content"),
        (HttpResponse(status=205), "205 Reset Content"),
    ],
    ids=["304", "204", "205"],
)
def test_a_hold_on_a_bodiless_status_goes_as_200_with_grip_status(rf, response, grip_status):
    held = _held_through_middleware(rf, response)
    assert held.status_code == 200
    assert held.reason_phrase == "OK"
    assert held["Grip-Status"] == grip_status
    assert held["Grip-Hold"] == "response" and held["Grip-Timeout"] == "30"
    assert held.content == b""


def test_a_hold_on_a_304_keeps_a_custom_reason(rf):
    response = HttpResponseNotModified()
    response.reason_phrase = "Still The Same"
    assert _held_through_middleware(rf, response)["Grip-Status"] == "304 Still The Same"


def test_a_hold_on_an_ordinary_status_keeps_it_and_writes_no_grip_status(rf):
    held = _held_through_middleware(rf, HttpResponse("gone\n", status=404))
    assert held.status_code == 404
    assert not held.has_header("Grip-Status")


def test_a_stream_hold_on_a_bodiless_response_is_not_written_and_says_so(rf, caplog):
    response = set_hold(HttpResponse(status=204), Hold("stream", ["etag-feed"]))
    with caplog.at_level(logging.WARNING, logger="grip_views.middleware"):
        held = GripMiddleware(lambda request: response)(rf.get("/s/", HTTP_GRIP_SIG=grip_sig()))
    assert held.status_code == 204
    assert not any(name.lower().startswith("grip-") for name in held.headers)
    assert "/s/ answered 204" in caplog.text and "stream hold was not written" in caplog.text


def test_a_direct_request_for_a_held_304_gets_the_304_itself(rf):
    response = set_hold(HttpResponseNotModified(), Hold("response", ["etag-feed"]))
    direct = GripMiddleware(lambda request: response)(rf.get("/"))
    assert direct.status_code == 304
    assert not any(name.lower().startswith("grip-") for name in direct.headers)


def test_set_hold_from_a_function_view_writes_the_headers(grip_client):
    response = grip_client.get_proxied("/held/")
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == "fn"
    assert response["Grip-Keep-Alive"].endswith("; format=base64; timeout=20")


@override_settings(GRIP_PREFIX="app-")
def test_grip_prefix_is_applied_to_holds(grip_client):
    assert grip_client.get_proxied("/feed/")["Grip-Channel"] == "app-feed"


# -- WebSocket-over-HTTP ------------------------------------------------------------------------
def test_websocket_reply_has_exactly_the_websocket_events_content_type(grip_client):
    reply = grip_client.websocket("/ws/echo/")
    assert reply.status_code == 200
    assert reply["Content-Type"] == "application/websocket-events"
    assert reply["Sec-WebSocket-Extensions"] == "grip"
    assert reply.accepted


def test_websocket_reply_content_length_matches_the_events_body(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("OPEN", None), ("TEXT", b"hello")])
    assert int(reply["Content-Length"]) == len(reply.response.content)


def test_unsigned_websocket_events_are_refused_before_the_view(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("OPEN", None), ("TEXT", b"x")], signed=False)
    assert reply.status_code == 403
    assert b"Grip-Sig" in reply.response.content


@override_settings(GRIP_PROXIES=NO_KEY)
def test_without_a_key_websocket_events_from_a_proxy_without_sig_key_are_accepted(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("OPEN", None), ("TEXT", b"hi")], signed=False)
    assert reply.accepted
    assert reply.messages == ["hi"]


def test_malformed_websocket_body_is_answered_400(grip_client):
    reply = grip_client.websocket("/ws/echo/", b"TEXT 9\r\nshort\r\n")
    assert reply.status_code == 400
    assert b"Malformed" in reply.response.content


@pytest.mark.parametrize("connection_id", ["", "has space", "x" * 257])
def test_missing_or_malformed_connection_id_is_answered_400(grip_client, connection_id):
    reply = grip_client.websocket("/ws/echo/", connection_id=connection_id)
    assert reply.status_code == 400


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_websocket_body_over_the_upload_limit_is_answered_413(grip_client):
    reply = grip_client.websocket("/ws/echo/", [("OPEN", None), ("TEXT", b"x" * 200)])
    assert reply.status_code == 413


def test_view_headers_are_kept_on_websocket_replies(grip_client):
    reply = grip_client.websocket("/ws/function/")
    assert reply["X-Custom"] == "kept"
    assert reply["Content-Type"] == CONTENT_TYPE
    assert reply.messages == ["from a function view"]


def test_function_view_that_does_not_accept_refuses_the_handshake(grip_client):
    assert grip_client.websocket("/ws/not-accepting/").status_code == 403


def test_websocket_view_status_other_than_200_is_relayed_untouched(grip_client):
    reply = grip_client.websocket("/ws/refusing/")
    assert reply.status_code == 401
    assert reply.response.content == b"go away\n"
    assert reply["Content-Type"] != CONTENT_TYPE


def test_websocket_without_the_grip_extension_gets_unprefixed_messages(grip_client):
    reply = grip_client.websocket("/ws/function/", grip_extension=False)
    assert decode_events(reply.response.content)[1].content == b"from a function view"
    assert not reply.has_header("Sec-WebSocket-Extensions")


def test_verified_websocket_events_are_exempt_from_csrf():
    client = GripClient(enforce_csrf_checks=True)
    reply = client.websocket("/ws/echo/", [("OPEN", None), ("TEXT", b"hi")])
    assert reply.status_code == 200
    assert reply.messages == ["hi"]


def test_unverified_websocket_events_are_not_exempt_from_csrf():
    client = GripClient(enforce_csrf_checks=True)
    assert client.websocket("/ws/echo/", signed=False).status_code == 403


def test_other_signed_posts_still_need_a_csrf_token():
    client = GripClient(enforce_csrf_checks=True)
    response = client.post("/grip-info/", {"a": "b"}, HTTP_GRIP_SIG=grip_sig())
    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_get_with_the_websocket_content_type_is_not_decoded(grip_client):
    response = grip_client.get("/grip-info/", CONTENT_TYPE=CONTENT_TYPE, HTTP_GRIP_SIG=grip_sig())
    assert response.json()["websocket"] is False


def test_middleware_without_request_grip_passes_responses_through(rf):
    sentinel = object()
    middleware = GripMiddleware(lambda request: sentinel)
    request = rf.get("/")
    assert middleware.process_response(request, sentinel) is sentinel  # type: ignore[arg-type]
    assert not middleware.is_async
