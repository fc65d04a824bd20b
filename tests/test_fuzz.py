"""Property tests (Hypothesis): the codec, the middleware, instructions, parsers.

Example counts are modest by default so the suite stays quick: the
``grip-fuzz`` profile runs ``GRIP_FUZZ_EXAMPLES`` examples per test (100 when
unset). For a long run::

    GRIP_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py -p no:cacheprovider \
        --hypothesis-show-statistics
"""

from __future__ import annotations

import base64
import json
import os
import re
import string
import time

from django.test import RequestFactory
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grip_views.exceptions import InvalidChannel, ProtocolError
from grip_views.origins import origin_allowed
from grip_views.protocol.instructions import (
    Channel,
    Hold,
    check_meta,
    encode_keep_alive,
    hold_headers,
    parse_features,
    parse_grip_last,
)
from grip_views.protocol.signature import SignatureVerifier, sign_hs256
from grip_views.protocol.websocket import (
    CONTENT_TYPE,
    EVENT_TYPES,
    WebSocketEvent,
    decode_events,
    encode_events,
)
from grip_views.testing import GripClient

from . import security_views
from .settings import GRIP_PROXIES

settings.register_profile(
    "grip-fuzz",
    max_examples=int(os.environ.get("GRIP_FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,  # nothing written into the repository
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FUZZ = settings.get_profile("grip-fuzz")

KEY = GRIP_PROXIES[0]["key"]
ISS = GRIP_PROXIES[0]["verify_iss"]
HEADER_SAFE = re.compile(r"[ -~]*")  # printable ASCII: no CR, LF, NUL or other controls

# -- strategies ------------------------------------------------------------------
contents = (
    st.none() | st.binary(max_size=200) | st.sampled_from([b"", b"\r\n", b"TEXT 1\r\nx\r\n", b"\x03\xe8"])
)
events = st.lists(st.tuples(st.sampled_from(EVENT_TYPES), contents), max_size=12)
#: Characters that delimit, escape or end header values, and some that are not ASCII.
EDGES = ',;"=\\<> \t\r\n\x00\x7f\u00e9[]:/@'


def edgy(alphabet: str, max_size: int = 12, min_size: int = 0) -> st.SearchStrategy[str]:
    """Short strings of ``alphabet`` mixed with EDGES: most examples sit on a boundary."""
    return st.text(st.sampled_from(alphabet + EDGES), min_size=min_size, max_size=max_size)


#: Header values as a WSGI server hands them to Django: latin-1 code points.
header_text = st.one_of(st.text(st.characters(max_codepoint=0xFF), max_size=60), edgy("ab-_.0"))
#: Strings near the edge of what a channel name may be.
channel_text = st.one_of(
    edgy("ab-_.:!~+", min_size=1),
    st.text(max_size=30),
    st.from_regex(r"[!#-+\--:<-\[\]-~]{1,30}", fullmatch=True),
)


@st.composite
def mangled_bodies(draw) -> bytes:
    """A valid events body, then cut, patched or extended at random."""
    body = encode_events(draw(events))
    how = draw(st.sampled_from(["keep", "cut", "flip", "insert", "drop", "random"]))
    if how == "random" or not body:
        return draw(st.binary(max_size=300))
    at = draw(st.integers(0, len(body)))
    if how == "cut":
        return body[:at]
    if how == "flip" and at < len(body):
        return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    if how == "insert":
        return body[:at] + draw(st.binary(min_size=1, max_size=12)) + body[at:]
    if how == "drop":
        return body[:at] + body[at + draw(st.integers(1, 3)) :]
    return body


# == the WebSocket-events codec =====================================================
@FUZZ
@given(events)
def test_codec_round_trips_any_events(evs):
    decoded = decode_events(encode_events(evs))
    assert decoded == [WebSocketEvent(t, c) for t, c in evs]


def _reference_decode(body: bytes) -> list[WebSocketEvent]:
    """The protocol read naively, to check the fast decoder against: ValueError if malformed."""
    out, at = [], 0
    while at < len(body):
        eol = body.find(b"\r\n", at)
        name, space, size = body[at : max(eol, at)].partition(b" ")
        if eol < 0 or name.decode("latin-1") not in EVENT_TYPES:
            raise ValueError
        if not space:
            out.append(WebSocketEvent(name.decode(), None))
            at = eol + 2
            continue
        if not 1 <= len(size) <= 8 or size.strip(b"0123456789abcdefABCDEF"):
            raise ValueError
        start, end = eol + 2, eol + 2 + int(size, 16)
        if body[end : end + 2] != b"\r\n":
            raise ValueError
        out.append(WebSocketEvent(name.decode(), body[start:end]))
        at = end + 2
    return out


@FUZZ
@given(st.one_of(st.binary(max_size=400), mangled_bodies()))
@example(b"TEXT 2\r\nabXY")  # no CRLF after the content
@example(b"TEXT 2\r\nab")
@example(b"TEXT 123456789\r\n")
@example(b"TEXT \r\n")
@example(b"OPEN\r\nPINGPONG\r\n")
def test_decoder_returns_events_or_raises_protocol_error_never_anything_else(body):
    try:
        expected = _reference_decode(body)
    except ValueError:
        expected = None
    try:
        decoded = decode_events(body)
    except ProtocolError:
        assert expected is None, "a well-formed body was refused"
        return
    assert decoded == expected, "a malformed body was accepted, or read wrongly"
    assert decode_events(encode_events(decoded)) == decoded


# == the middleware, through Django's test client ==================================
def _is_4xx_with_a_message(response) -> bool:
    return 400 <= response.status_code < 500 and len(response.content.strip()) > 0


@FUZZ
@given(body=st.one_of(mangled_bodies(), st.binary(max_size=300)), signed=st.booleans())
def test_any_events_body_gets_an_answer_or_a_4xx_with_a_message_never_a_5xx(body, signed):
    security_views.hooks.clear()
    reply = GripClient().websocket("/sec/ws/", body, signed=signed)
    response = reply.response
    assert response.status_code < 500, response.content
    assert response.status_code == 200 or _is_4xx_with_a_message(response)
    if not signed:
        # 403; or 400 for an empty body, which Django's test client sends without a Content-Type.
        assert response.status_code in (400, 403) and security_views.hooks == []


meta_names = st.text(st.sampled_from(string.ascii_uppercase + string.digits + "_-.ÉX"), max_size=12)


@FUZZ
@given(
    connection_id=st.one_of(st.none(), st.from_regex(r"[!-~]{1,20}", fullmatch=True), header_text),
    meta=st.dictionaries(meta_names, header_text, max_size=3),
    grip_last=header_text,
    grip_feature=header_text,
    origin=st.one_of(
        st.none(),
        header_text,
        st.sampled_from(["null", "http://[", "https://evil.example", "http://testserver"]),
    ),
    extensions=st.one_of(st.none(), st.sampled_from(["grip", "grip; x", "x, grip", "permessage-deflate"])),
    body=st.sampled_from(
        [
            b"OPEN\r\n",
            b"TEXT 2\r\nhi\r\n",
            b"OPEN\r\nTEXT 7\r\njoin x,\r\n",
            b"TEXT 7\r\njoin ok\r\n",
            b"CLOSE 1\r\n\x03\r\n",
        ]
    ),
)
def test_any_proxy_headers_get_an_answer_or_a_4xx_with_a_message_never_a_5xx(
    connection_id, meta, grip_last, grip_feature, origin, extensions, body
):
    extra = {
        "HTTP_CONNECTION_ID": connection_id,
        "HTTP_GRIP_LAST": grip_last,
        "HTTP_GRIP_FEATURE": grip_feature,
        "HTTP_ORIGIN": origin,
        "HTTP_SEC_WEBSOCKET_EXTENSIONS": extensions,
        "HTTP_GRIP_SIG": sign_hs256({"iss": ISS, "exp": int(time.time()) + 3600}, KEY),
        **{"HTTP_META_" + name: value for name, value in meta.items()},
    }
    extra = {k: v for k, v in extra.items() if v is not None}  # None: header left out
    response = GripClient().post("/sec/ws/", body, content_type=CONTENT_TYPE, **extra)
    assert response.status_code < 500, response.content
    assert response.status_code == 200 or _is_4xx_with_a_message(response)
    if not re.fullmatch(r"[!-~]{1,256}", connection_id or ""):
        assert response.status_code == 400 and b"Connection-Id" in response.content
    assert all(HEADER_SAFE.fullmatch(v) for v in response.headers.values())


@FUZZ
@given(
    path=st.sampled_from(["/sec/stream/", "/sec/poll/"]),
    channels=st.lists(channel_text, max_size=3),
    token=st.one_of(st.none(), header_text, st.just("valid")),
    grip_last=header_text,
)
def test_any_stream_or_poll_request_gets_an_answer_or_a_4xx_never_a_5xx(path, channels, token, grip_last):
    extra = {"HTTP_GRIP_LAST": grip_last}
    if token == "valid":
        extra["HTTP_GRIP_SIG"] = sign_hs256({"iss": ISS, "exp": int(time.time()) + 3600}, KEY)
    elif token is not None:
        extra["HTTP_GRIP_SIG"] = token
    response = GripClient().get(path, {"ch": channels}, **extra)
    assert response.status_code < 500, response.content
    assert response.status_code == 200 or _is_4xx_with_a_message(response)
    if response.has_header("Grip-Channel"):
        assert token == "valid"
        names = [v.split(";")[0].strip() for v in response["Grip-Channel"].split(",")]
        assert names == [c for c in channels if not c.startswith("staff-")] or names == ["public"]
    assert all(HEADER_SAFE.fullmatch(v) for v in response.headers.values())


# == instructions: nothing reaches a header unchecked ==============================
def _pushpin_split(value: str) -> list[list[tuple[str, str]]]:
    """Grip-Channel as Pushpin 1.36 reads it: comma-split, then ``name; k=v; ...``."""
    out = []
    for part in value.split(","):
        name, *params = part.split(";")
        out.append([(name.strip(), ""), *[tuple(p.strip().split("=", 1)) for p in params]])
    return out


@FUZZ
@example(names=["a,b"], prev_id=None, filters=[])
@example(names=["a"], prev_id="1;x=2", filters=[])
@example(names=["a"], prev_id=None, filters=['"f"'])
@given(
    names=st.lists(channel_text, min_size=1, max_size=3),
    prev_id=st.none() | channel_text,
    filters=st.lists(channel_text, max_size=2),
)
def test_random_channels_are_refused_or_written_without_breaking_the_header(names, prev_id, filters):
    try:
        channels = [Channel(n, prev_id=prev_id, filters=tuple(filters)) for n in names]
    except InvalidChannel:
        return
    (value,) = [v for k, v in hold_headers(Hold("stream", channels)) if k == "Grip-Channel"]
    assert HEADER_SAFE.fullmatch(value)
    parsed = _pushpin_split(value)
    assert [p[0][0] for p in parsed] == names
    for params in parsed:
        assert (
            ("prev-id", prev_id) in params if prev_id is not None else all(k != "prev-id" for k, _ in params)
        )
        assert [v for k, v in params if k == "filter"] == filters


@example(b"a;b")
@example(b"back\\slash")
@example(b" padded ")
@FUZZ
@given(
    st.one_of(st.binary(min_size=1, max_size=100), st.text(min_size=1, max_size=50), edgy("ab", min_size=1))
)
def test_keep_alive_data_of_any_bytes_is_encoded_so_pushpin_reads_it_back_unchanged(data):
    value = encode_keep_alive(data)
    assert HEADER_SAFE.fullmatch(value)
    payload, _, fmt = value.rpartition("; format=")
    raw = data.encode() if isinstance(data, str) else data
    if fmt == "base64":
        assert base64.b64decode(payload) == raw
    else:
        assert fmt == "cstring" and payload == payload.strip() and ";" not in payload
        assert payload.replace("\\r", "\r").replace("\\n", "\n").encode("ascii") == raw


@FUZZ
@given(
    name=st.one_of(st.text(max_size=70), edgy("aZ0_-")), value=st.one_of(st.text(max_size=100), edgy("ab"))
)
def test_meta_is_refused_or_safe_to_write_into_a_header(name, value):
    try:
        checked = check_meta({name: value})
    except InvalidChannel:
        return
    assert re.fullmatch(r"[A-Za-z0-9_-]+", name) and HEADER_SAFE.fullmatch(checked[name])


@FUZZ
@given(header_text, st.text(max_size=8))
def test_grip_last_and_grip_feature_parsers_never_raise(value, prefix):
    last = parse_grip_last(value, prefix)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in last.items())
    assert all(isinstance(f, str) for f in parse_features(value))


# == signatures and origins never raise on hostile input ===========================
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
tokens = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda h, b, s: f"{_b64(json.dumps(h).encode())}.{_b64(json.dumps(b).encode())}.{_b64(s)}",
        st.one_of(
            json_values, st.fixed_dictionaries({"alg": st.sampled_from(["HS256", "none", "ES256", "RS256"])})
        ),
        json_values,
        st.binary(max_size=70),
    ),
)
VERIFIER = SignatureVerifier([(KEY, ISS)])


@FUZZ
@given(tokens)
def test_signature_verifier_refuses_any_forged_token_without_raising(token):
    assert VERIFIER.is_valid(token) is False


@example("http://[")
@example("https://[::1")
@FUZZ
@given(
    st.one_of(
        header_text,
        st.builds("{}://{}".format, st.sampled_from(["http", "https", "ws", ""]), edgy("ab.0%?#")),
    )
)
def test_origin_check_answers_any_origin_without_raising(origin):
    request = RequestFactory().get("/", HTTP_ORIGIN=origin)
    assert origin_allowed(request, ["https://partner.example"]) in (True, False)
