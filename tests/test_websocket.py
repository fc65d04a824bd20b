"""The WebSocket-events codec and WebSocketContext (grip_views.protocol.websocket): pure."""

from __future__ import annotations

import base64
import json

import pytest

from grip_views.exceptions import InvalidChannel, ProtocolError
from grip_views.protocol.instructions import Channel
from grip_views.protocol.websocket import (
    CONTENT_TYPE,
    EVENT_TYPES,
    WebSocketContext,
    WebSocketEvent,
    close_payload,
    decode_events,
    encode_events,
    meta_from_headers,
    parse_close_payload,
)

E = WebSocketEvent


def ctx(*events: WebSocketEvent, **kwargs) -> WebSocketContext:
    return WebSocketContext("conn-1", list(events) or [E("OPEN")], **kwargs)


def controls(context: WebSocketContext) -> list[dict]:
    return [json.loads(e.content[2:]) for e in context.outgoing if e.content and e.content.startswith(b"c:")]


# -- decoding -------------------------------------------------------------------------
def test_every_event_type_decodes():
    body = (
        b"OPEN\r\nTEXT 5\r\nhello\r\nBINARY 2\r\n\x00\xff\r\nPING\r\n"
        b"PONG 1\r\nx\r\nCLOSE 2\r\n\x03\xe8\r\nDISCONNECT\r\n"
    )
    assert decode_events(body) == [
        E("OPEN"),
        E("TEXT", b"hello"),
        E("BINARY", b"\x00\xff"),
        E("PING"),
        E("PONG", b"x"),
        E("CLOSE", b"\x03\xe8"),
        E("DISCONNECT"),
    ]


def test_content_may_hold_crlf_and_event_lookalikes():
    content = b"TEXT 3\r\nabc\r\n"
    body = b"TEXT %x\r\n%s\r\n" % (len(content), content)
    assert decode_events(body) == [E("TEXT", content)]


def test_hex_length_in_either_case_decodes():
    payload = b"x" * 0xAB
    assert decode_events(b"TEXT AB\r\n" + payload + b"\r\n") == decode_events(
        b"TEXT ab\r\n" + payload + b"\r\n"
    )


def test_empty_body_and_empty_content_decode():
    assert decode_events(b"") == []
    assert decode_events(b"TEXT 0\r\n\r\n") == [E("TEXT", b"")]


def test_bytearray_and_memoryview_bodies_decode_like_bytes():
    body = b"TEXT 2\r\nhi\r\n"
    assert decode_events(bytearray(body)) == decode_events(memoryview(body)) == [E("TEXT", b"hi")]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"TEXT 5\r\nhel", "ends first"),
        (b"TEXT 2\r\nhello\r\n", "not followed by CRLF"),
        (b"SHOUT 2\r\nhi\r\n", "unknown event type"),
        (b"TEXT zz\r\nhi\r\n", "bad content length"),
        (b"TEXT -1\r\nhi\r\n", "bad content length"),
        (b"OPEN", "no CRLF"),
        (b"OPEN\n", "no CRLF"),
        (b"text 2\r\nhi\r\n", "unknown event type"),
        (b"OPEN\r\ngarbage", "no CRLF"),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body, match):
    with pytest.raises(ProtocolError, match=match):
        decode_events(body)


def test_str_body_is_refused():
    with pytest.raises(ProtocolError, match="bytes"):
        decode_events("OPEN\r\n")  # type: ignore[arg-type]


def test_client_close_1000_as_pushpin_sends_it_decodes_to_code_1000():
    (event,) = decode_events(b"CLOSE 2\r\n\x03\xe8\r\n")
    assert parse_close_payload(event.content) == (1000, "")


# -- encoding -------------------------------------------------------------------------
def test_events_round_trip_through_the_codec():
    events = [E(t, None) for t in EVENT_TYPES] + [E("TEXT", b"\r\n\x00"), E("BINARY", b"")]
    assert decode_events(encode_events(events)) == events


def test_str_content_is_encoded_as_utf8_with_its_byte_length():
    assert encode_events([("TEXT", "\u00e9")]) == b"TEXT 2\r\n\xc3\xa9\r\n"


def test_encoding_accepts_a_generator_of_tuples():
    assert encode_events(e for e in [("OPEN", None), ("TEXT", b"hi")]) == b"OPEN\r\nTEXT 2\r\nhi\r\n"


def test_length_is_written_in_hexadecimal():
    assert encode_events([E("TEXT", b"x" * 26)]).startswith(b"TEXT 1a\r\n")


# -- close payloads -------------------------------------------------------------------
def test_close_payload_is_a_two_byte_code_then_the_reason():
    assert close_payload(1000) == b"\x03\xe8"
    assert close_payload(4001, "bye") == b"\x0f\xa1bye"
    assert close_payload(None) == b""


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 5000])
def test_close_codes_a_server_may_not_send_are_refused(code):
    with pytest.raises(ValueError, match="close code"):
        close_payload(code)


def test_close_reason_is_cut_to_fit_a_control_frame():
    assert len(close_payload(1000, "x" * 500)) == 125


def test_parse_close_payload_handles_missing_short_and_bad_utf8_reasons():
    assert parse_close_payload(None) == (None, "")
    assert parse_close_payload(b"\x03") == (None, "")
    assert parse_close_payload(b"\x0f\xa1bye") == (4001, "bye")
    assert parse_close_payload(b"\x03\xe8\xff")[0] == 1000


def test_meta_is_read_from_meta_headers_only():
    meta = meta_from_headers({"HTTP_META_USER": "alice", "HTTP_META_ROOM_ID": "7", "HTTP_USER": "x"})
    assert meta == {"user": "alice", "room_id": "7"}


# -- WebSocketContext ------------------------------------------------------------------
def test_context_is_opening_only_when_the_first_event_is_open():
    assert ctx(E("OPEN")).opening
    assert not ctx(E("TEXT", b"x"), E("OPEN")).opening
    assert not WebSocketContext("c", []).opening


def test_accepted_reply_starts_with_open_then_what_was_sent():
    c = ctx()
    c.send("hi")
    c.accept()
    assert decode_events(c.response_body()) == [E("OPEN"), E("TEXT", b"m:hi")]


def test_accept_does_nothing_on_a_connection_already_open():
    c = ctx(E("TEXT", b"x"))
    c.accept()
    assert not c.accepted
    assert c.response_body() == b""


def test_send_uses_text_for_str_and_binary_for_bytes_with_the_m_prefix():
    c = ctx()
    c.send("t")
    c.send(b"\x00")
    c.send(bytearray(b"b"))
    c.send("forced", binary=True)
    assert c.outgoing == [
        E("TEXT", b"m:t"),
        E("BINARY", b"m:\x00"),
        E("BINARY", b"m:b"),
        E("BINARY", b"m:forced"),
    ]


def test_messages_are_not_prefixed_without_the_grip_extension():
    c = ctx(grip_extension=False)
    c.send("plain")
    assert c.outgoing == [E("TEXT", b"plain")]


def test_control_messages_need_the_grip_extension():
    with pytest.raises(ProtocolError, match="grip"):
        ctx(grip_extension=False).subscribe("a")


def test_subscribe_sends_a_prefixed_control_message_with_filters():
    c = ctx(prefix="app-")
    c.subscribe(Channel("room", filters=("skip-users",)))
    c.unsubscribe("room")
    assert controls(c) == [
        {"type": "subscribe", "channel": "app-room", "filters": ["skip-users"]},
        {"type": "unsubscribe", "channel": "app-room"},
    ]


def test_a_skip_self_subscription_first_names_the_connection_to_the_proxy():
    # Pushpin's skip-self compares the subscription meta "user" (set-meta), not
    # the Set-Meta-* connection meta: without it the sender hears itself.
    c = ctx(prefix="app-")
    c.subscribe(Channel("room", filters=("skip-self",)))
    c.subscribe(Channel("lobby", filters=("skip-self",)))
    assert controls(c) == [
        {"type": "set-meta", "name": "user", "value": "conn-1"},
        {"type": "subscribe", "channel": "app-room", "filters": ["skip-self"]},
        {"type": "subscribe", "channel": "app-lobby", "filters": ["skip-self"]},
    ]
    assert c.sender_id == "conn-1"


def test_prefix_is_applied_once_to_a_reused_channel_object():
    shared = Channel("news")
    c = ctx(prefix="app-")
    c.subscribe(shared)
    c.subscribe(shared)
    assert [m["channel"] for m in controls(c)] == ["app-news", "app-news"]


def test_subscribe_refuses_an_invalid_channel_name():
    with pytest.raises(InvalidChannel):
        ctx().subscribe("a b")


def test_detach_and_keep_alive_are_control_messages():
    c = ctx()
    c.detach()
    c.keep_alive("ka", timeout=30)
    c.keep_alive(b"\x00\x01")
    assert controls(c) == [
        {"type": "detach"},
        {"type": "keep-alive", "message-type": "text", "timeout": 30, "content": "ka"},
        {"type": "keep-alive", "message-type": "binary", "timeout": 20, "content-bin": "AAE="},
    ]


def test_a_bytes_keep_alive_is_sent_as_a_binary_frame():
    # Without message-type Pushpin sends content-bin as a text frame.
    c = ctx()
    c.keep_alive(b"\x00\xff")
    (msg,) = controls(c)
    assert msg["message-type"] == "binary"
    assert base64.b64decode(msg["content-bin"]) == b"\x00\xff"


@pytest.mark.parametrize(
    ("content", "message_type", "expected"),
    [
        ("", "ping", {"message-type": "ping", "content": ""}),
        (b"hb", "ping", {"message-type": "ping", "content-bin": "aGI="}),
        ("hb", "pong", {"message-type": "pong", "content": "hb"}),
        (b"ok", "text", {"message-type": "text", "content-bin": "b2s="}),
        ("\u2603", "binary", {"message-type": "binary", "content": "\u2603"}),
    ],
)
def test_keep_alive_takes_a_message_type(content, message_type, expected):
    c = ctx()
    c.keep_alive(content, timeout=5, message_type=message_type)
    assert controls(c) == [{"type": "keep-alive", "timeout": 5, **expected}]


def test_keep_alive_of_none_turns_it_off():
    c = ctx()
    c.keep_alive(None)
    assert controls(c) == [{"type": "keep-alive"}]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("x",), {"message_type": "close"}, "message_type must be one of"),
        ((b"x" * 126,), {"message_type": "ping"}, "125 bytes"),
        ((b"\xff",), {"message_type": "text"}, "UTF-8"),
        (("x", 0), {}, "timeout"),
        (("x", 2.5), {}, "timeout"),
        (("x", True), {}, "timeout"),
        ((3,), {}, "str or bytes"),
        ((None,), {"message_type": "ping"}, "turned off"),
    ],
)
def test_bad_keep_alive_arguments_raise_a_clear_error(args, kwargs, match):
    c = ctx()
    with pytest.raises(ProtocolError, match=match):
        c.keep_alive(*args, **kwargs)
    assert controls(c) == []


def test_ping_is_sent_with_or_without_payload():
    c = ctx()
    c.ping()
    c.ping(b"p")
    assert c.outgoing == [E("PING"), E("PING", b"p")]


def test_close_without_a_code_sends_1000_never_0():
    c = ctx()
    c.close()
    assert c.outgoing == [E("CLOSE", b"\x03\xe8")]
    assert c.close_code == 1000


def test_close_is_sent_once():
    c = ctx()
    c.close(4001, "bye")
    c.close(1000)
    assert c.outgoing == [E("CLOSE", b"\x0f\xa1bye")]
    assert c.closed


def test_reply_content_type_is_exactly_websocket_events():
    assert ctx().response_headers()[0] == ("Content-Type", CONTENT_TYPE)
    assert CONTENT_TYPE == "application/websocket-events"


def test_grip_extension_and_subprotocol_are_echoed_only_when_accepting():
    c = ctx()
    assert dict(c.response_headers()).keys() == {"Content-Type"}
    c.accept("chat.v1")
    assert dict(c.response_headers()) == {
        "Content-Type": CONTENT_TYPE,
        "Sec-WebSocket-Extensions": "grip",
        "Sec-WebSocket-Protocol": "chat.v1",
    }


def test_grip_extension_is_not_echoed_when_the_proxy_did_not_offer_it():
    c = ctx(grip_extension=False)
    c.accept()
    assert "Sec-WebSocket-Extensions" not in dict(c.response_headers())


def test_only_changed_meta_is_sent_back_as_set_meta_headers():
    c = WebSocketContext("c", [E("TEXT", b"x")], {"user": "alice", "room": "1", "gone": "x"})
    c.meta["room"] = "2"
    c.meta["new_key"] = "v"
    del c.meta["gone"]
    assert c.meta_changes() == {"room": "2", "new_key": "v", "gone": ""}
    headers = dict(c.response_headers())
    assert headers["Set-Meta-Room"] == "2"
    assert headers["Set-Meta-New-Key"] == "v"
    assert headers["Set-Meta-Gone"] == ""
    assert "Set-Meta-User" not in headers


def test_meta_that_cannot_be_a_header_is_refused_when_encoding():
    c = ctx()
    c.meta["user"] = "line\nbreak"
    with pytest.raises(InvalidChannel, match="meta"):
        c.response_headers()


def test_context_repr_names_the_connection():
    assert "conn-1" in repr(ctx())


@pytest.mark.parametrize("name", ["user-id", "User", "ROOM"])
def test_meta_names_that_would_come_back_renamed_are_refused(name):
    c = ctx()
    c.meta[name] = "v"
    with pytest.raises(InvalidChannel, match="lower-case"):
        c.response_headers()


def test_meta_set_on_one_request_is_read_back_under_the_same_name_on_the_next():
    first = ctx()
    first.meta["user_id"] = "42"
    set_meta = {k[len("Set-Meta-") :]: v for k, v in first.response_headers() if k.startswith("Set-Meta-")}
    # The proxy sends each back as Meta-<name>; WSGI turns that into HTTP_META_<NAME>.
    environ = {"HTTP_META_" + k.upper().replace("-", "_"): v for k, v in set_meta.items()}
    second = WebSocketContext("conn-1", [E("TEXT", b"x")], meta_from_headers(environ))
    assert second.meta == {"user_id": "42"}
    assert second.meta_changes() == {}


# The decoder's fast path splits at CRLFs; these bodies need its careful path.
@pytest.mark.parametrize(
    "events",
    [
        [("TEXT", b"a\r\nb")],
        [("BINARY", b"\r\n\r\n"), ("TEXT", b"after")],
        [("TEXT", b"\r"), ("TEXT", b"\n")],
        [("TEXT", b"x\r"), ("OPEN", None)],
        [("TEXT", b""), ("CLOSE", b"\x03\xe8")],
        [("TEXT", b"OPEN"), ("PING", None)],
    ],
)
def test_content_holding_crlf_or_look_alike_headers_round_trips(events):
    expected = [E(t, c) for t, c in events]
    assert decode_events(encode_events(expected)) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"TEXT 1g\r\nx\r\n",
        b"TEXT 0x1\r\nx\r\n",
        b"TEXT 2\r\nabc\r\n",
        b"TEXT 3\r\nab\r\n\r\n",
        b"TEXT 1\r\nx",
    ],
)
def test_fast_path_never_accepts_what_the_careful_decoder_refuses(body):
    with pytest.raises(ProtocolError):
        decode_events(body)


# -- subscription meta, sessions, delayed messages, disconnects, the subscription cap ------------
def test_subscription_meta_is_set_and_removed_with_set_meta():
    c = ctx()
    c.set_subscription_meta("name", "Ann")
    c.set_subscription_meta("name", None)
    assert controls(c) == [
        {"type": "set-meta", "name": "name", "value": "Ann"},
        {"type": "set-meta", "name": "name"},
    ]


def test_subscription_meta_that_cannot_be_meta_is_refused():
    with pytest.raises(InvalidChannel, match="subscription meta"):
        ctx().set_subscription_meta("no spaces", "x")


def test_a_user_set_before_a_skip_self_subscription_is_who_self_is():
    c = ctx()
    c.set_subscription_meta("user", "ann")
    c.subscribe(Channel("room", filters=("skip-self",)))
    assert controls(c) == [
        {"type": "set-meta", "name": "user", "value": "ann"},
        {"type": "subscribe", "channel": "room", "filters": ["skip-self"]},
    ]
    assert c.sender_id == "ann"


def test_skip_self_adds_the_filter_to_every_subscription_once():
    c = ctx()
    c.skip_self = True
    c.subscribe("a")
    c.subscribe(Channel("b", filters=("skip-users", "skip-self")))
    assert controls(c) == [
        {"type": "set-meta", "name": "user", "value": "conn-1"},
        {"type": "subscribe", "channel": "a", "filters": ["skip-self"]},
        {"type": "subscribe", "channel": "b", "filters": ["skip-users", "skip-self"]},
    ]


def test_session_names_or_clears_the_session():
    c = ctx()
    c.set_session("s-1")
    c.set_session(None)
    assert controls(c) == [{"type": "session", "id": "s-1"}, {"type": "session"}]


@pytest.mark.parametrize(
    ("data", "kwargs", "expected"),
    [
        ("soon", {}, {"message-type": "text", "content": "soon"}),
        (b"\x00\x01", {}, {"message-type": "binary", "content-bin": "AAE="}),
        (b"hb", {"message_type": "ping"}, {"message-type": "ping", "content-bin": "aGI="}),
    ],
)
def test_send_delayed_is_a_typed_control_message(data, kwargs, expected):
    c = ctx()
    c.send_delayed(data, 5, **kwargs)
    c.flush_delayed()
    assert controls(c) == [{"type": "send-delayed", **expected, "timeout": 5}, {"type": "flush-delayed"}]


@pytest.mark.parametrize("delay", [0, -1, 1.5, True, "5"])
def test_send_delayed_needs_whole_seconds(delay):
    with pytest.raises(ProtocolError, match="whole number of seconds"):
        ctx().send_delayed("x", delay)


def test_disconnect_is_a_disconnect_event_sent_once_and_ends_the_connection():
    c = ctx(E("TEXT", b"x"))
    c.send("bye")
    c.disconnect()
    c.disconnect()
    c.close()
    assert c.closed
    assert c.response_body() == b"TEXT 5\r\nm:bye\r\nDISCONNECT\r\n"


def test_keep_alive_interval_is_a_header_of_the_reply_only_when_asked_for():
    c = ctx()
    assert "Keep-Alive-Interval" not in dict(c.response_headers())
    c.set_request_interval(30)
    assert dict(c.response_headers())["Keep-Alive-Interval"] == "30"


def test_subscriptions_beyond_the_cap_are_refused_and_logged(caplog):
    c = ctx(subscription_max=2)
    with caplog.at_level("ERROR"):
        assert [c.subscribe(name) for name in ("a", "b", "c")] == [True, True, False]
    assert [m["channel"] for m in controls(c)] == ["a", "b"]
    assert "'c' not subscribed" in caplog.text and "connection_subscription_max" in caplog.text


def test_a_filter_missing_from_grip_feature_is_warned_about(caplog):
    c = ctx(features=frozenset({"filter:skip-self"}))
    with caplog.at_level("WARNING"):
        c.subscribe(Channel("a", filters=("skip-self",)))
        c.subscribe(Channel("b", filters=("var-subst",)))
    (record,) = caplog.records
    assert "filter:var-subst" in record.getMessage() and "'b'" in record.getMessage()
