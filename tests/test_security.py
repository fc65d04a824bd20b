"""Security and robustness, request by request (issue 6, points 1-5).

Each test drives a request through Django's test client and the whole
middleware stack, and proves one protection: it fails if that protection is
taken out of grip_views. The views are in ``tests/security_views.py``; every
hook they run is recorded in ``hooks``, so "refused before any hook runs" is
checked, not assumed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.checks import run_checks

import grip_views
from grip_views.checks import check_security, check_settings
from grip_views.conf import grip_settings
from grip_views.exceptions import InvalidChannel, PublishError
from grip_views.protocol import signature
from grip_views.protocol.instructions import Hold, hold_headers
from grip_views.protocol.signature import SignatureVerifier, sign_hs256
from grip_views.protocol.websocket import CONTENT_TYPE
from grip_views.publishing import HttpPublisher
from grip_views.testing import GripClient, outbox

from . import security_views
from .settings import GRIP_PROXIES

KEY = GRIP_PROXIES[0]["key"]
ISS = GRIP_PROXIES[0]["verify_iss"]
OTHER_KEY = "an-attackers-guess-at-the-key-32-bytes!!"
FANOUT_ISS = "fanout"
WS = "/sec/ws/"


# -- helpers --------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(ttl: int = 3600, iss: str | None = ISS, **extra: object) -> dict:
    out: dict = {"exp": int(time.time()) + ttl, **extra}
    if iss is not None:
        out["iss"] = iss
    return out


def hs256_with(secret: bytes, body: dict) -> str:
    """An HS256 token made by hand, with any bytes as the secret (PyJWT refuses PEMs)."""
    head = b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = b64url(json.dumps(body).encode())
    sig = hmac.new(secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload}.{b64url(sig)}"


NONE_HEADER = b64url(b'{"alg":"none","typ":"JWT"}')


def alg_none(body: dict) -> str:
    return f"{NONE_HEADER}.{b64url(json.dumps(body).encode())}."


def pem_of(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def grip_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.items() if k.lower().startswith("grip-")}


#: Grip-Sig values that must never make a request count as proxied (HS256 proxy).
BAD_TOKENS = {
    "missing": None,
    "empty": "",
    "forged-with-another-key": sign_hs256(claims(), OTHER_KEY),
    "expired": sign_hs256(claims(ttl=-5), KEY),
    "wrong-iss": sign_hs256(claims(iss="someone-else"), KEY),
    "no-iss": sign_hs256(claims(iss=None), KEY),
    "no-exp": sign_hs256({"iss": ISS}, KEY),
    "not-yet-valid": sign_hs256(claims(nbf=int(time.time()) + 600), KEY),
    "alg-none": alg_none(claims()),
    "tampered-claims": sign_hs256(claims(), KEY).split(".")[0]
    + "."
    + b64url(json.dumps(claims(ttl=10**9)).encode())
    + "."
    + sign_hs256(claims(), KEY).split(".")[2],
    "garbage": "not.a.jwt",
    "deeply-nested-header": f"{b64url(b'[' * 2900 + b']' * 2900)}.{b64url(b'{}')}.{b64url(b'x')}",
    "oversized": "a" * 9000,
}


@pytest.fixture(autouse=True)
def _no_hooks_yet():
    security_views.hooks.clear()
    yield
    security_views.hooks.clear()


@pytest.fixture
def client() -> GripClient:
    return GripClient()


def hook_names() -> list[str]:
    return [h[0] for h in security_views.hooks]


# == 1. Signatures ==================================================================
@pytest.mark.parametrize("token", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
def test_request_with_a_bad_signature_gets_no_hold(client, token):
    extra = {} if token is None else {"HTTP_GRIP_SIG": token}
    response = client.get("/sec/stream/", **extra)
    assert response.status_code == 200
    assert grip_headers(response) == {}  # a direct client gets the first body, never a hold
    info = client.get("/sec/info/", **extra).json()
    assert info["proxied"] is False and info["signed"] is False


def test_request_with_a_valid_signature_gets_a_hold(client):
    response = client.get("/sec/stream/", HTTP_GRIP_SIG=sign_hs256(claims(), KEY))
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == "public"


@pytest.mark.parametrize("token", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
def test_unsigned_or_forged_websocket_events_are_refused_before_any_hook_runs(client, token):
    extra = {} if token is None else {"HTTP_GRIP_SIG": token}
    reply = client.websocket(WS, [("OPEN", None), ("TEXT", b"hello")], signed=False, **extra)
    assert reply.status_code == 403
    assert b"Grip-Sig" in reply.response.content
    assert security_views.hooks == []


def test_forged_websocket_events_are_refused_even_without_csrf_middleware(client, settings):
    # The library must not lean on CsrfViewMiddleware to keep forged events out.
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "csrf" not in m.lower()]
    reply = client.websocket(
        WS, [("TEXT", b"hello")], signed=False, HTTP_GRIP_SIG=BAD_TOKENS["forged-with-another-key"]
    )
    assert reply.status_code == 403
    assert security_views.hooks == []


def test_signed_websocket_events_need_no_csrf_token():
    # With CSRF enforced, only the signature lets the proxy's POSTs through.
    reply = GripClient(enforce_csrf_checks=True).websocket(WS, [("OPEN", None)])
    assert reply.status_code == 200 and reply.accepted
    unsigned = GripClient(enforce_csrf_checks=True).websocket(WS, [("OPEN", None)], signed=False)
    assert unsigned.status_code == 403


def test_a_remembered_token_stops_counting_once_it_expires(client, monkeypatch):
    now = time.time()
    token = sign_hs256({"iss": ISS, "exp": int(now) + 30}, KEY)
    assert client.get("/sec/stream/", HTTP_GRIP_SIG=token).has_header("Grip-Hold")
    monkeypatch.setattr(signature, "time", type("Later", (), {"time": staticmethod(lambda: now + 60)}))
    assert not client.get("/sec/stream/", HTTP_GRIP_SIG=token).has_header("Grip-Hold")
    security_views.hooks.clear()
    reply = client.websocket(WS, [("OPEN", None)], signed=False, HTTP_GRIP_SIG=token)
    assert reply.status_code == 403 and security_views.hooks == []


@pytest.mark.parametrize("bad", ["wrong-iss", "expired", "not-yet-valid"])
def test_a_token_with_a_good_signature_but_bad_claims_is_never_remembered(client, bad):
    # Its HMAC is right, so a cache filled before the claims are checked would let it in.
    for _ in range(3):
        assert not client.get("/sec/stream/", HTTP_GRIP_SIG=BAD_TOKENS[bad]).has_header("Grip-Hold")
    assert BAD_TOKENS[bad] not in grip_settings.verifier._good


def test_a_token_remembered_under_one_key_is_refused_after_the_key_changes(client, settings):
    token = sign_hs256(claims(), KEY)
    assert client.get("/sec/stream/", HTTP_GRIP_SIG=token).has_header("Grip-Hold")
    settings.GRIP_PROXIES = [{**GRIP_PROXIES[0], "key": OTHER_KEY}]
    assert not client.get("/sec/stream/", HTTP_GRIP_SIG=token).has_header("Grip-Hold")


def test_deeply_nested_token_header_is_refused_not_a_crash():
    verifier = SignatureVerifier([(KEY, ISS)])
    assert verifier.is_valid(BAD_TOKENS["deeply-nested-header"]) is False


@pytest.mark.parametrize("kind", ["ES256", "RS256"])
def test_fanout_style_public_keys_verify_tokens_of_their_own_algorithm_only(
    client, settings, ec_key, rsa_key, kind
):
    private = ec_key if kind == "ES256" else rsa_key
    other = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    pem = pem_of(private)
    settings.GRIP_PROXIES = [{"verify_key": pem, "verify_iss": FANOUT_ISS}]
    body = claims(iss=FANOUT_ISS)
    good = jwt.encode(body, private, algorithm=kind)
    assert client.get("/sec/stream/", HTTP_GRIP_SIG=good).has_header("Grip-Hold")
    assert client.websocket(WS, [("OPEN", None)], signed=False, HTTP_GRIP_SIG=good).accepted

    wrong_alg = jwt.encode(
        body, rsa_key if kind == "ES256" else ec_key, algorithm="RS256" if kind == "ES256" else "ES256"
    )
    refused = {
        "alg-none": alg_none(body),
        # The public key is public: HS256 with it as the secret is the classic forgery.
        "hs256-with-the-public-key": hs256_with(pem.encode(), body),
        "hs256-with-the-stripped-public-key": hs256_with(pem.strip().encode(), body),
        "signed-by-another-key": jwt.encode(body, other, algorithm=kind),
        "other-algorithm": wrong_alg,
        "expired": jwt.encode(claims(ttl=-5, iss=FANOUT_ISS), private, algorithm=kind),
        "wrong-iss": jwt.encode(claims(iss=ISS), private, algorithm=kind),
        "nested": BAD_TOKENS["deeply-nested-header"],
    }
    for name, token in refused.items():
        assert not client.get("/sec/stream/", HTTP_GRIP_SIG=token).has_header("Grip-Hold"), name
        reply = client.websocket(WS, [("OPEN", None)], signed=False, HTTP_GRIP_SIG=token)
        assert reply.status_code == 403, name


def test_public_key_objects_verify_and_refuse_the_hs256_confusion(ec_key):
    verifier = SignatureVerifier([(ec_key.public_key(), None)])
    assert verifier.is_valid(jwt.encode(claims(), ec_key, algorithm="ES256"))
    assert not verifier.is_valid(hs256_with(pem_of(ec_key).encode(), claims()))


# -- W001 ------------------------------------------------------------------------
UNSIGNED_PROXY = [{"control_uri": "http://127.0.0.1:5561", "control_iss": "pushpin"}]


# The whole check framework runs: Django 6 checks the history model's JSONField
# against the database.
@pytest.mark.django_db
def test_no_key_warns_under_check_deploy_that_anyone_can_pose_as_the_proxy(settings):
    settings.GRIP_PROXIES = UNSIGNED_PROXY
    deploy = run_checks(include_deployment_checks=True)  # registered with Django
    warnings = [m for m in deploy if m.id == "grip_views.W001"]
    assert len(warnings) == 1
    assert "pose as the proxy" in warnings[0].msg
    assert "GRIP_PROXIES" in warnings[0].hint
    assert "grip_views.W001" not in [m.id for m in run_checks()]


def test_no_key_warns_in_debug_too(settings):
    settings.GRIP_PROXIES = UNSIGNED_PROXY
    settings.DEBUG = True
    assert "grip_views.W001" in [m.id for m in check_security()]


def test_a_key_silences_the_warning(settings):
    assert "grip_views.W001" not in [m.id for m in check_security()]


def test_without_a_key_anyone_can_pose_as_the_proxy_which_is_what_w001_warns_of(client, settings):
    settings.GRIP_PROXIES = UNSIGNED_PROXY
    assert client.websocket(WS, [("OPEN", None)], signed=False).accepted


# == 2. Origins ======================================================================
@pytest.mark.parametrize(
    ("path", "origin", "settings_override"),
    [
        (WS, "https://evil.example", {}),
        (WS, "null", {}),
        (WS, "http://[", {}),
        (WS, "file:///etc/passwd", {}),
        (WS, "https://evil.example@testserver", {}),
        (WS, "http://testserver.evil.example", {}),
        # ALLOWED_HOSTS = ["*"] means any Host header, not any site.
        (WS, "https://evil.example", {"ALLOWED_HOSTS": ["*"]}),
        (WS, "https://app.example.com.evil.example", {"ALLOWED_HOSTS": ["testserver", "app.example.com"]}),
        (WS, "http://trusted.example", {"CSRF_TRUSTED_ORIGINS": ["https://trusted.example"]}),
        (WS, "https://partner.example", {}),  # another view's list is not this one's
        ("/sec/ws/partner/", "https://evil.example", {}),
        ("/sec/ws/partner/", "https://wild.example.evil.example", {}),
    ],
)
def test_a_page_from_another_origin_cannot_open_a_socket(client, settings, path, origin, settings_override):
    for name, value in settings_override.items():
        setattr(settings, name, value)
    reply = client.websocket(path, [("OPEN", None)], HTTP_ORIGIN=origin)
    assert reply.status_code == 403  # relayed by the proxy as a failed handshake
    assert b"origin" in reply.response.content
    assert security_views.hooks == []  # not even channels_for


@pytest.mark.parametrize(
    ("path", "origin", "settings_override"),
    [
        (WS, None, {}),  # not a browser
        (WS, "http://testserver", {}),
        (WS, "https://app.example.com", {"ALLOWED_HOSTS": ["testserver", "app.example.com"]}),
        (WS, "https://sub.example.org", {"ALLOWED_HOSTS": ["testserver", ".example.org"]}),
        (WS, "https://trusted.example", {"CSRF_TRUSTED_ORIGINS": ["https://trusted.example"]}),
        (
            WS,
            "https://any.setting.example",
            {"GRIP_WEBSOCKET_ALLOWED_ORIGINS": ["https://*.setting.example"]},
        ),
        ("/sec/ws/partner/", "https://partner.example", {}),
        ("/sec/ws/partner/", "https://x.wild.example", {}),
    ],
)
def test_allowed_origins_open_a_socket(client, settings, path, origin, settings_override):
    for name, value in settings_override.items():
        setattr(settings, name, value)
    extra = {} if origin is None else {"HTTP_ORIGIN": origin}
    reply = client.websocket(path, [("OPEN", None)], **extra)
    assert reply.status_code == 200 and reply.accepted


# == 3. Channel authorization ========================================================
def _query(*channels: str) -> str:
    return "?" + urlencode([("ch", c) for c in channels])


@pytest.fixture
def alice(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("alice"))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/sec/stream/", "/sec/poll/"])
def test_one_denied_channel_refuses_a_stream_or_poll_with_403_and_no_hold(client, path):
    response = client.get_proxied(path + _query("public", "staff-news"))
    assert response.status_code == 403
    assert grip_headers(response) == {}
    assert [h for h in security_views.hooks if h[0] == "can_subscribe"] == [
        ("can_subscribe", "public", ""),
        ("can_subscribe", "staff-news", ""),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/sec/stream/", "/sec/poll/"])
def test_a_request_denied_every_channel_gets_403_and_no_hold(client, path):
    response = client.get_proxied(path + _query("staff-news"))
    assert response.status_code == 403
    assert grip_headers(response) == {}
    # One order in every view: on_open (where a view refuses) runs first.
    assert hook_names()[:2] == ["on_open", "channels_for"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/sec/stream/", "/sec/poll/"])
def test_the_check_sees_the_requests_user(alice, path):
    response = alice.get_proxied(path + _query("public", "staff-news"))
    assert response["Grip-Channel"] == "public, staff-news"
    assert ("can_subscribe", "staff-news", "alice") in security_views.hooks


@pytest.mark.django_db
def test_a_socket_asking_for_one_denied_channel_fails_its_handshake(client):
    reply = client.websocket(WS + _query("public", "staff-news"), [("OPEN", None)])
    assert reply.status_code == 403
    assert not reply.accepted
    assert reply.controls == []


@pytest.mark.django_db
def test_a_socket_denied_every_channel_fails_its_handshake(client):
    reply = client.websocket(WS + _query("staff-news"), [("OPEN", None)])
    assert reply.status_code == 403
    assert not reply.accepted


@pytest.mark.django_db
def test_a_channel_a_socket_asks_for_later_passes_the_same_check(client, alice):
    anonymous = GripClient().websocket(WS, [("TEXT", b"join staff-news")])
    assert anonymous.messages == ["denied"]
    assert anonymous.controls == []
    allowed = alice.websocket(WS, [("TEXT", b"join staff-news")])
    assert allowed.messages == ["joined"]
    assert allowed.controls == [{"type": "subscribe", "channel": "staff-news"}]
    assert ("can_subscribe", "staff-news", "") in security_views.hooks
    assert ("can_subscribe", "staff-news", "alice") in security_views.hooks


# == 4. Bad input never becomes a 500 ===============================================
def test_a_socket_with_channels_needs_the_grip_extension_and_says_so(client):
    # Found by tests/test_fuzz.py: without the extension, subscribing raised (a 500).
    reply = client.websocket(WS, [("OPEN", None)], grip_extension=False)
    assert reply.status_code == 400
    assert b"Sec-WebSocket-Extensions: grip" in reply.response.content
    later = client.websocket(WS, [("TEXT", b"join news")], grip_extension=False)
    assert later.status_code == 200
    assert [e.content for e in later.events] == [b"denied"]  # unprefixed without the extension


@pytest.mark.parametrize(
    "body",
    [
        b"OPEN",  # truncated: no CRLF
        b"TEXT 5\r\nab\r\n",  # says 5, has 2
        b"TEXT ffffffff\r\nab\r\n",  # huge length
        b"TEXT 123456789\r\nx\r\n",  # length longer than 8 hex digits
        b"TEXT zz\r\nab\r\n",  # not hexadecimal
        b"TEXT -1\r\n",
        b"TEXT 2\r\nabXY",  # no CRLF after the content
        b"FOO\r\n",  # unknown type
        b"open\r\n",  # types are upper-case
        b"\r\n",
        b"\x00\xff\xfe",
        b"TEXT 2\r\nab\r\nPING 1\r\n",
    ],
)
def test_malformed_events_bodies_get_400_with_a_reason_and_run_no_hook(client, body):
    reply = client.websocket(WS, body)
    assert reply.status_code == 400
    assert reply.response.content.startswith(b"Malformed WebSocket-events body: ")
    assert security_views.hooks == []


def test_oversized_events_body_gets_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    reply = client.websocket(WS, [("TEXT", b"x" * 2048)])
    assert reply.status_code == 413
    assert b"larger than" in reply.response.content
    assert security_views.hooks == []


def test_text_that_is_not_utf8_closes_the_socket_with_1007(client):
    reply = client.websocket(WS, [("TEXT", b"\xff\xfe bad"), ("TEXT", b"after")])
    assert reply.status_code == 200
    assert reply.close_code == 1007
    assert "on_message" not in hook_names()


@pytest.mark.parametrize(
    "connection_id",
    [None, "", "has space", "caf\u00e9", "x" * 257, "tab\there", "new\r\nline"],
)
def test_a_bad_connection_id_gets_400_and_runs_no_hook(client, connection_id):
    extra = {} if connection_id is None else {"HTTP_CONNECTION_ID": connection_id}
    response = client.post(
        WS, b"OPEN\r\n", content_type=CONTENT_TYPE, HTTP_GRIP_SIG=sign_hs256(claims(), KEY), **extra
    )
    assert response.status_code == 400
    assert b"Connection-Id" in response.content
    assert security_views.hooks == []


@pytest.mark.parametrize(
    "meta",
    [
        {"HTTP_META_USER": "caf\u00e9"},
        {"HTTP_META_USER": "tab\there"},
        {"HTTP_META_USER": "nul\x00"},
        {"HTTP_META_USER": "line\r\nbreak"},
        {"HTTP_META_USER": "x" * 20000},
        {"HTTP_META_": "no name"},
        {"HTTP_META_A.B": "odd name"},
        {"HTTP_META_" + "N" * 100: "long name"},
    ],
)
def test_odd_meta_headers_are_not_a_server_error(client, meta):
    reply = client.websocket(WS, [("TEXT", b"hi")], **meta)
    assert reply.status_code == 200
    assert reply.messages == ["hi"]
    assert not any(k.lower().startswith("set-meta-") for k in reply.response.headers)
    # And a value the app does set is still written back.
    noted = client.websocket("/sec/ws/meta/", [("TEXT", b"note ok")], **meta)
    assert noted.status_code == 200
    assert noted["Set-Meta-Note"] == "ok"


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=1", "a\nb", "caf\u00e9", "nul\x00"])
def test_meta_value_set_by_the_app_that_cannot_be_a_header_never_reaches_one(client, caplog, value):
    reply = client.websocket("/sec/ws/meta/", [("TEXT", b"note " + value.encode())])
    # The app wrote client input into meta unchecked: refused like Django's BadHeaderError.
    assert reply.status_code == 500
    assert b"Invalid WebSocket connection meta" in reply.response.content
    assert not reply.has_header("Set-Meta-Note")
    assert all("\r" not in v and "\n" not in v for v in reply.response.headers.values())
    assert "conn-1" in caplog.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {}),
        (";;;,,,", {}),
        ("ch", {}),
        ("ch; last-id", {"ch": ""}),
        ("ch; last-id=1", {"ch": "1"}),
        ('ch; last-id="quoted"', {"ch": "quoted"}),
        ("bad name; last-id=1, ok; last-id=2", {"ok": "2"}),
        ("a,b; last-id=3", {"b": "3"}),
        ("nul\x00; last-id=1", {}),
        ("caf\u00e9; last-id=1", {}),
        ("x" * 5000 + "; last-id=" + "y" * 5000, {}),
    ],
)
def test_malformed_grip_last_is_dropped_not_a_server_error(client, value, expected):
    response = client.get_proxied("/sec/info/", HTTP_GRIP_LAST=value)
    assert response.status_code == 200
    last = response.json()["last"]
    if "x" * 5000 in value:
        assert set(last) <= {"x" * 5000}
    else:
        assert last == expected
    assert client.get_proxied("/sec/stream/", HTTP_GRIP_LAST=value).has_header("Grip-Hold")


def test_a_direct_client_cannot_pose_with_grip_last_or_grip_feature(client):
    info = client.get("/sec/info/", HTTP_GRIP_LAST="feed; last-id=999", HTTP_GRIP_FEATURE="status").json()
    assert info == {"proxied": False, "signed": False, "last": {}, "features": []}


BAD_NAMES = ["a,b", "a;b", 'a"b', "a\r\nGrip-Hold: response", "a\nb", "a b", "a\\b", "caf\u00e9", "x" * 1025]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("path", ["/sec/stream/", "/sec/poll/"])
def test_a_channel_name_that_could_break_a_header_is_refused_with_400(client, path, name):
    response = client.get_proxied(path + _query(name))
    assert response.status_code == 400
    assert b"not valid" in response.content
    assert grip_headers(response) == {}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_socket_asking_for_a_bad_channel_name_is_refused_not_crashed(client, name):
    at_open = client.websocket(WS + _query(name), [("OPEN", None)])
    assert at_open.status_code == 400 and not at_open.accepted
    later = client.websocket(WS, [("TEXT", f"join {name}".encode()), ("TEXT", f"leave {name}".encode())])
    assert later.status_code == 200
    assert later.messages == ["denied", "left"]
    assert later.controls == []


@pytest.mark.parametrize("name", BAD_NAMES)
def test_publishing_to_a_bad_channel_name_is_refused_before_anything_is_sent(name):
    with pytest.raises(InvalidChannel):
        grip_views.publish(name, {"http-stream": {"content": "x"}})
    assert outbox == []


@pytest.mark.parametrize("value", ["a\r\nb", "a\nb", "caf\u00e9", "x" * 9000])
def test_publish_meta_that_cannot_be_a_header_is_refused(value):
    with pytest.raises(InvalidChannel):
        grip_views.publish("ok", {"http-stream": {"content": "x"}}, meta={"user": value})
    assert outbox == []


def _pushpin_reads_keep_alive(header: str) -> bytes:
    """What Pushpin 1.36 makes of a Grip-Keep-Alive header (handler/instruct.cpp)."""
    data, _, params = header.partition(";")
    data = data.strip()
    fmt = dict(p.strip().partition("=")[::2] for p in params.split(";") if p.strip()).get("format", "raw")
    if fmt == "base64":
        return base64.b64decode(data)
    assert fmt == "cstring"
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == "\\":
            nxt = data[i + 1]
            out += {"\\": b"\\", "r": b"\r", "n": b"\n"}[nxt]
            i += 2
        else:
            out += data[i].encode("latin-1")
            i += 1
    return bytes(out)


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)),
        b"\x00",
        b"a; format=raw",
        b'"',
        b"\\n",
        b" pad ",
        b"a,b",
        b"x=1",
        b"\r\n",
        b":\n\n",
        "caf\u00e9\n",
        "\u2603",
    ],
)
def test_keep_alive_data_of_any_bytes_reaches_the_client_unchanged(data):
    (value,) = [v for k, v in hold_headers(Hold("stream", ["c"], keep_alive=data)) if k == "Grip-Keep-Alive"]
    assert "\r" not in value and "\n" not in value
    raw = data.encode() if isinstance(data, str) else data
    assert _pushpin_reads_keep_alive(value) == raw


# == 5. Keys never appear in logs, errors or reprs ===================================
def _assert_no_key(text: str) -> None:
    assert KEY not in text
    assert base64.b64encode(KEY.encode()).decode() not in text


def test_settings_publisher_and_verifier_reprs_hide_the_key():
    for obj in (
        grip_settings.proxies,
        grip_settings.publish_servers,
        grip_settings.verifier,
        HttpPublisher(grip_settings.publish_servers),
        HttpPublisher(grip_settings.publish_servers).servers,
    ):
        _assert_no_key(repr(obj))
        _assert_no_key(str(obj))


def test_failed_publishes_name_the_proxy_but_not_the_key(caplog):
    publisher = HttpPublisher(grip_settings.publish_servers, timeout=2)  # 127.0.0.1:1: refused
    item = {"channel": "news", "formats": {"http-stream": {"content": "x"}}}
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(PublishError) as caught:
            publisher.publish_items([item])
        failures = []
        publisher.error_handler = failures.append
        publisher.publish_items([item], blocking=False)
        assert publisher.flush(timeout=10)
        publisher.close()
    assert "http://127.0.0.1:1" in str(caught.value) and "news" in str(caught.value)
    assert failures and "news" in str(failures[0])
    for text in (
        str(caught.value),
        repr(caught.value),
        repr(caught.value.failures),
        str(failures),
        caplog.text,
    ):
        _assert_no_key(text)
    assert "news" in caplog.text


def test_configuration_errors_never_echo_the_key(settings):
    secret = "sEcReT-vAlUe-nobody-may-see-0123456789"
    pem = f"-----BEGIN PUBLIC KEY-----\n{secret}\n-----END PUBLIC KEY-----\n"
    cases = [
        {"GRIP_URL": f"ftp://127.0.0.1:5561/?iss=pushpin&key={secret}", "GRIP_PROXIES": []},
        {"GRIP_URL": None, "GRIP_PROXIES": [{"control_uri": "not a url", "key": secret}]},
        {"GRIP_URL": None, "GRIP_PROXIES": [{"key": secret, "verify-key": secret}]},
        {"GRIP_URL": None, "GRIP_PROXIES": [{"verify_key": pem}]},
        {
            "GRIP_URL": None,
            "GRIP_PROXIES": [{"control_uri": "http://127.0.0.1:5561", "key": secret[:10]}],
        },
        {"GRIP_URL": None, "GRIP_PROXIES": [{"verify_key": {"kty": "EC", "crv": "P-256", "x": secret}}]},
        {"GRIP_URL": None, "GRIP_PROXIES": [{"verify_key": "{" + secret}]},
        {"GRIP_URL": f"ftp://user:{secret}@127.0.0.1:5561/", "GRIP_PROXIES": []},
        {"GRIP_URL": None, "GRIP_PROXIES": [{"control_uri": f"user:{secret}@127.0.0.1:5561"}]},
        {"GRIP_URL": f"http://user:{secret}@127.0.0.1:5561/?key={secret}", "GRIP_PROXIES": []},
    ]
    for case in cases:
        for name, value in case.items():
            setattr(settings, name, value)
        messages = check_settings() + check_security()
        assert messages, case
        for message in messages:
            assert secret not in message.msg and secret not in (message.hint or ""), message.id
            assert secret[:10] not in message.msg, message.id


def test_signature_errors_never_echo_the_key():
    verifier = SignatureVerifier([(KEY, ISS)])
    for token in BAD_TOKENS.values():
        if token:
            try:
                verifier.verify(token)
            except Exception as exc:  # any error's text is checked
                _assert_no_key(str(exc) + repr(exc))
