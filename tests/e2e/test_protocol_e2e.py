"""Protocol details through a real Pushpin: holds on bodiless statuses, typed
WebSocket keep-alives, publishing with credentials in the proxy's URI, and
ES256 Grip-Sig (as Fastly Fanout signs) verified with a JWK or a PEM.

The views are plain function views in this module (its own URLconf), so
nothing here depends on the view classes' hooks.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
import requests
import websocket
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.urls import path
from gripcontrol import HttpResponseFormat, HttpStreamFormat

from grip_views import Hold, publish, set_hold
from grip_views.pushpin import Pushpin
from grip_views.testing.pytest_plugin import SIG_ISS, SIG_KEY, require_pushpin
from tests.e2e.support import StreamReader, free_port

pytestmark = [pytest.mark.urls(__name__), pytest.mark.pushpin]


# -- views -------------------------------------------------------------------------------
def not_modified(request: HttpRequest, channel: str) -> HttpResponse:
    """A long-poll whose answer, when nothing is published, is 304 (say, an ETag matched)."""
    return set_hold(HttpResponseNotModified(), Hold("response", [channel], timeout=5))  # type: ignore[return-value]


def stream(request: HttpRequest, channel: str) -> HttpResponse:
    return set_hold(HttpResponse("open\n", content_type="text/plain"), Hold("stream", [channel]))  # type: ignore[return-value]


def keep_alive_socket(request: HttpRequest, kind: str) -> HttpResponse:
    """Accepts, sets a one-second keep-alive of ``kind``, and answers a close."""
    ctx = request.grip.websocket  # type: ignore[attr-defined]
    if ctx is None:
        return HttpResponse("WebSocket-over-HTTP only\n", status=400)
    if ctx.opening:
        ctx.accept()
        if kind == "binary":
            ctx.keep_alive(b"\x00\xffka", timeout=1)
        elif kind == "text":
            ctx.keep_alive("ka", timeout=1)
        else:
            ctx.keep_alive(b"hb", timeout=1, message_type=kind)
    for event in ctx.events:
        if event.type == "CLOSE":
            ctx.close()
    return HttpResponse()


def grip_state(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"proxied": request.grip.proxied, "signed": request.grip.signed})  # type: ignore[attr-defined]


urlpatterns = [
    path("grip-state/", grip_state),
    path("not-modified/<str:channel>/", not_modified),
    path("stream/<str:channel>/", stream),
    path("ws/keep-alive/<str:kind>/", keep_alive_socket),
]


@pytest.fixture
def readers() -> Iterator[list[StreamReader]]:
    made: list[StreamReader] = []
    yield made
    for reader in made:
        reader.close()


# -- holds on a 304 ------------------------------------------------------------------------
def test_a_held_304_is_held_then_reaches_the_client_as_304(grip_live):
    ch = grip_live.unique_channel()
    started = time.monotonic()
    response = requests.get(f"{grip_live.url}/not-modified/{ch}/", timeout=20)
    waited = time.monotonic() - started
    assert response.status_code == 304
    assert waited >= 4  # held for its 5 s timeout (Pushpin may be up to 1 s early), not answered at once
    assert not any(name.lower().startswith("grip-") for name in response.headers)


def test_a_held_304_gets_what_is_published_meanwhile(grip_live):
    ch = grip_live.unique_channel()
    result: list[requests.Response] = []
    poller = threading.Thread(
        target=lambda: result.append(requests.get(f"{grip_live.url}/not-modified/{ch}/", timeout=20))
    )
    poller.start()
    grip_live.wait_subscribed(ch, mode="response")
    grip_live.publish(ch, HttpResponseFormat(code=200, body="fresh\n"))
    poller.join(20)
    (response,) = result
    assert (response.status_code, response.text) == (200, "fresh\n")


# -- WebSocket keep-alives -------------------------------------------------------------------
def _first_frame(grip_live, kind: str, want: int) -> tuple[int, bytes, float]:
    ws = websocket.create_connection(f"{grip_live.ws_url}/ws/keep-alive/{kind}/", timeout=10)
    try:
        started = time.monotonic()
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == want or opcode not in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                return opcode, data, time.monotonic() - started
    finally:
        ws.close()


def test_a_bytes_keep_alive_reaches_the_client_as_a_binary_frame(grip_live):
    opcode, data, after = _first_frame(grip_live, "binary", websocket.ABNF.OPCODE_BINARY)
    assert opcode == websocket.ABNF.OPCODE_BINARY  # it was a text frame before message-type was sent
    assert data == b"\x00\xffka"
    assert after < 5


def test_a_str_keep_alive_reaches_the_client_as_a_text_frame(grip_live):
    opcode, data, _ = _first_frame(grip_live, "text", websocket.ABNF.OPCODE_TEXT)
    assert (opcode, data) == (websocket.ABNF.OPCODE_TEXT, b"ka")


def test_a_ping_keep_alive_reaches_the_client_as_a_ping(grip_live):
    opcode, data, _ = _first_frame(grip_live, "ping", websocket.ABNF.OPCODE_PING)
    assert (opcode, data) == (websocket.ABNF.OPCODE_PING, b"hb")


# -- credentials in the proxy's URI ------------------------------------------------------------
def test_publishing_to_a_grip_url_with_credentials_reaches_subscribers(grip_live, settings, readers):
    publish_port = urlsplit(grip_live.pushpin.publish_url).port
    settings.GRIP_PROXIES = []
    settings.GRIP_URL = f"http://publisher:pa%3Assword@127.0.0.1:{publish_port}/?verify-iss={SIG_ISS}"
    settings.GRIP_VERIFY_KEY = SIG_KEY  # requests are verified; the URI has no key, so Basic auth is sent
    ch = grip_live.unique_channel()
    reader = StreamReader(f"{grip_live.url}/stream/{ch}/")
    readers.append(reader)
    assert reader.status == 200
    assert reader.next() == b"open"
    publish(ch, HttpStreamFormat("published with basic auth\n"))
    assert reader.next() == b"published with basic auth"


# -- ES256 Grip-Sig, verified with a JWK or a PEM ----------------------------------------------
@pytest.fixture(scope="module")
def es256_proxy(live_server, tmp_path_factory) -> Iterator[tuple[Pushpin, ec.EllipticCurvePrivateKey]]:
    """A private Pushpin that signs Grip-Sig with ES256, as Fastly Fanout does."""
    executable = require_pushpin()
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path_factory.mktemp("es256") / "sig-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    backend = f"127.0.0.1:{urlsplit(live_server.url).port}"
    proxy = Pushpin(
        backend, sig_key="unused", http_port=free_port(), publish_port=free_port(), executable=executable
    )
    # Pushpin 1.36 signs ES256 given sig_key=file:<PKCS#8 PEM>; the helper writes only
    # plain and base64: keys into pushpin.conf, so the config value is set here.
    proxy._config_key = f"file:{key_file}"
    proxy.start()
    try:
        yield proxy, key
    finally:
        proxy.stop()


def _jwk(private_key: ec.EllipticCurvePrivateKey) -> dict:
    from jwt.algorithms import ECAlgorithm

    return json.loads(ECAlgorithm.to_jwk(private_key.public_key()))


def _state(proxy: Pushpin) -> dict:
    return requests.get(f"{proxy.url}/grip-state/", timeout=10).json()


def test_es256_grip_sig_verifies_with_the_proxys_key_as_jwk_or_pem(es256_proxy, settings):
    proxy, key = es256_proxy
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings.GRIP_URL = None
    for name, verify_key in {
        "jwk-dict": _jwk(key),
        "jwk-json": json.dumps(_jwk(key)),
        "pem": pem.decode(),
    }.items():
        settings.GRIP_PROXIES = [
            {"control_uri": proxy.publish_url, "verify_key": verify_key, "verify_iss": "pushpin"}
        ]
        assert _state(proxy) == {"proxied": True, "signed": True}, name


def test_es256_grip_sig_verifies_with_a_jwk_in_a_fanout_style_grip_url(es256_proxy, settings):
    proxy, key = es256_proxy
    settings.GRIP_PROXIES = []
    for param in (
        quote(json.dumps(_jwk(key))),
        "base64:" + quote(base64.b64encode(json.dumps(_jwk(key)).encode()).decode()),
    ):
        settings.GRIP_URL = f"{proxy.publish_url}/?verify-iss=pushpin&verify-key={param}"
        assert _state(proxy) == {"proxied": True, "signed": True}, param


def test_es256_grip_sig_from_another_key_is_not_trusted(es256_proxy, settings):
    proxy, _ = es256_proxy
    other = ec.generate_private_key(ec.SECP256R1())
    settings.GRIP_URL = None
    settings.GRIP_PROXIES = [
        {"control_uri": proxy.publish_url, "verify_key": _jwk(other), "verify_iss": "pushpin"}
    ]
    assert _state(proxy) == {"proxied": False, "signed": False}


# -- no proxy configured ---------------------------------------------------------------------------
def test_with_no_proxy_configured_a_request_through_pushpin_is_answered_not_held(grip_live, settings):
    settings.GRIP_PROXIES = []
    settings.GRIP_URL = None
    ch = grip_live.unique_channel()
    started = time.monotonic()
    response = requests.get(f"{grip_live.url}/stream/{ch}/", timeout=10)  # Pushpin sends its Grip-Sig
    assert (response.status_code, response.text) == (200, "open\n")
    assert time.monotonic() - started < 5  # answered, not held open as a stream
