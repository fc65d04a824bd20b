"""Holds turned into Grip-* headers, and the Grip-* headers a proxy sends (pure)."""

from __future__ import annotations

import base64

import gripcontrol
import pytest

from grip_views.exceptions import InvalidChannel, InvalidHold
from grip_views.protocol.instructions import (
    FILTERS,
    NO_HOLD_STATUSES,
    Channel,
    Hold,
    as_channel,
    as_channels,
    check_channel_name,
    check_meta,
    encode_keep_alive,
    grip_set_meta,
    held_status,
    hold_headers,
    make_hold,
    parse_features,
    parse_grip_last,
    unsupported_filters,
)


def headers(hold: Hold, prefix: str = "") -> dict[str, str]:
    out = dict(hold_headers(hold, prefix))
    assert len(out) == len(hold_headers(hold, prefix)), "a header was written twice"
    return out


def decode_cstring(value: str) -> bytes:
    """Read a cstring keep-alive as Pushpin does (\\r, \\n, \\t, \\\\ escapes)."""
    out, i = bytearray(), 0
    raw = value.encode("latin-1")
    while i < len(raw):
        if raw[i : i + 1] == b"\\":
            out += {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"\\": b"\\"}[raw[i + 1 : i + 2]]
            i += 2
        else:
            out += raw[i : i + 1]
            i += 1
    return bytes(out)


def keep_alive_bytes(header_value: str) -> bytes:
    """The bytes a proxy would send for a ``Grip-Keep-Alive`` value."""
    data, _, params = header_value.partition(";")
    fmt = dict(p.strip().split("=", 1) for p in params.split(";") if p.strip())["format"]
    return base64.b64decode(data.strip()) if fmt == "base64" else decode_cstring(data.strip())


# -- channel names ----------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["a", "room-1", "user:42/feed", "x" * 1024, "a=b", "!#$%&'()*+-./:<=>?@[]^_`{|}~"]
)
def test_channel_names_of_printable_ascii_are_accepted(name):
    assert check_channel_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "a b", "a,b", "a;b", 'a"b', "a\\b", "caf\u00e9", "a\nb", "a\tb", "x" * 1025, None, 42, b"bytes"],
)
def test_channel_names_that_could_break_a_header_are_refused(name):
    with pytest.raises(InvalidChannel, match="not valid"):
        check_channel_name(name)


def test_invalid_channel_error_names_the_setting_when_given():
    with pytest.raises(InvalidChannel, match="GRIP_PREFIX"):
        check_channel_name("a b", setting="GRIP_PREFIX")


def test_channel_header_value_carries_prev_id_and_filters():
    ch = Channel("news", prev_id="41", filters=("skip-self", "build-id"))
    assert ch.header_value("app-") == "app-news; prev-id=41; filter=skip-self; filter=build-id"


def test_channel_accepts_a_single_filter_string():
    assert Channel("news", filters="skip-self").filters == ("skip-self",)


@pytest.mark.parametrize("prev_id", ["a b", "1;evil=2", "1,2"])
def test_prev_id_that_could_inject_a_parameter_is_refused(prev_id):
    with pytest.raises(InvalidChannel, match="prev-id"):
        Channel("news", prev_id=prev_id)


def test_filter_that_could_inject_a_parameter_is_refused():
    with pytest.raises(InvalidChannel, match="filter"):
        Channel("news", filters=("a;b",))


def test_as_channel_takes_names_channels_and_gripcontrol_channels():
    mine = Channel("a", prev_id="1")
    theirs = gripcontrol.Channel("b", "2")
    assert as_channel("x") == Channel("x")
    assert as_channel(mine) is mine
    assert as_channel(theirs) == Channel("b", prev_id="2")


def test_as_channel_refuses_other_types():
    with pytest.raises(InvalidChannel, match="int"):
        as_channel(3)


def test_as_channels_takes_none_one_or_many():
    assert as_channels(None) == ()
    assert as_channels("a") == (Channel("a"),)
    assert as_channels(Channel("a")) == (Channel("a"),)
    assert as_channels(["a", Channel("b")]) == (Channel("a"), Channel("b"))
    assert as_channels(c for c in ["a"]) == (Channel("a"),)


# -- keep-alive encoding ------------------------------------------------------------
def test_plain_keep_alive_is_sent_as_cstring_with_newlines_escaped():
    assert encode_keep_alive("ping\n") == "ping\\n; format=cstring"
    assert encode_keep_alive(b":\r\n\r\n") == ":\\r\\n\\r\\n; format=cstring"


@pytest.mark.parametrize(
    "data",
    [
        "back\\slash\n",  # a backslash would be read as an escape
        "tab\there",
        b"\xff\xfe not utf-8 \x00",
        "caf\u00e9 \u2603\n",
        "a, b",
        "a; format=raw",
        'say "hi"',
        " leading space",
        "trailing space ",
        "x=1",
    ],
)
def test_keep_alive_arrives_byte_for_byte_whatever_it_contains(data):
    raw = data.encode("utf-8") if isinstance(data, str) else data
    assert keep_alive_bytes(encode_keep_alive(data)) == raw


@pytest.mark.parametrize("data", ["back\\slash", "tab\t", b"\x80\x81"])
def test_keep_alive_with_backslash_tab_or_non_utf8_bytes_is_base64(data):
    assert encode_keep_alive(data).endswith("; format=base64")


def test_empty_keep_alive_is_refused():
    with pytest.raises(InvalidHold, match="empty"):
        encode_keep_alive("")


# -- holds ----------------------------------------------------------------------------
def test_hold_with_no_channels_raises_a_clear_error_not_an_assertion():
    with pytest.raises(InvalidHold, match="at least one channel"):
        Hold("stream", [])
    with pytest.raises(InvalidHold):
        Hold("response", None)  # type: ignore[arg-type]


def test_hold_mode_must_be_stream_or_response():
    with pytest.raises(InvalidHold, match="mode"):
        Hold("forever", ["a"])  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, 4, -1, 5.5, True, "30"])
def test_hold_timeout_below_pushpins_minimum_or_not_whole_is_refused(timeout):
    with pytest.raises(InvalidHold, match="timeout"):
        Hold("response", ["a"], timeout=timeout)


def test_keep_alive_interval_below_pushpins_minimum_is_refused():
    with pytest.raises(InvalidHold, match="interval"):
        Hold("stream", ["a"], keep_alive="x", keep_alive_interval=5)


def test_keep_alive_mode_must_be_idle_or_interval():
    with pytest.raises(InvalidHold, match="mode"):
        Hold("stream", ["a"], keep_alive="x", keep_alive_mode="often")  # type: ignore[arg-type]


@pytest.mark.parametrize("link", ["/next?a=1> ; rel=prev", "/has space", "<x>"])
def test_next_link_that_could_break_the_link_header_is_refused(link):
    with pytest.raises(InvalidHold, match="next link"):
        Hold("stream", ["a"], next_link=link)


@pytest.mark.parametrize("status", [99, 600])
def test_status_outside_http_range_is_refused(status):
    with pytest.raises(InvalidHold, match="status"):
        Hold("stream", ["a"], status=status)


def test_status_reason_must_be_printable():
    with pytest.raises(InvalidHold, match="reason"):
        Hold("stream", ["a"], status=202, reason="ok\r\nX-Evil: 1")


def test_exposed_header_names_are_checked():
    with pytest.raises(InvalidChannel, match="exposed header"):
        Hold("stream", ["a"], expose_headers=("A, B",))


def test_stream_hold_headers_carry_every_instruction():
    hold = Hold(
        "stream",
        ["a", Channel("b", prev_id="9")],
        keep_alive="ping\n",
        keep_alive_interval=30,
        keep_alive_mode="interval",
        next_link="/next/?after=9",
        next_link_timeout=120,
        status=202,
        expose_headers=("X-Total",),
    )
    assert headers(hold) == {
        "Grip-Hold": "stream",
        "Grip-Channel": "a, b; prev-id=9",
        "Grip-Keep-Alive": "ping\\n; format=cstring; timeout=30; mode=interval",
        "Grip-Link": "</next/?after=9>; rel=next; timeout=120",
        "Grip-Status": "202 Accepted",
        "Grip-Expose-Headers": "X-Total",
    }


def test_response_hold_headers_carry_the_timeout():
    assert headers(Hold("response", ["poll"], timeout=30)) == {
        "Grip-Hold": "response",
        "Grip-Channel": "poll",
        "Grip-Timeout": "30",
    }


def test_idle_keep_alive_mode_is_the_default_and_not_written():
    assert (
        headers(Hold("stream", ["a"], keep_alive="k"))["Grip-Keep-Alive"] == "k; format=cstring; timeout=20"
    )


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (304, "Not Modified", (200, "304 Not Modified")),
        (204, None, (200, "204 No Content")),
        (205, "Reset Content", (200, "205 Reset Content")),
        (103, "Early Hints", (200, "103 Early Hints")),
        (304, "caf\u00e9", (200, "304 Not Modified")),  # not printable ASCII: the standard reason
        (200, "OK", (200, None)),
        (404, "Not Found", (404, None)),
        (202, "Accepted", (202, None)),
    ],
)
def test_a_hold_is_never_written_on_a_status_without_body_or_safe_headers(status, reason, expected):
    assert held_status(Hold("response", ["a"]), status, reason) == expected


def test_the_holds_own_status_goes_in_grip_status_so_the_response_is_200():
    assert held_status(Hold("response", ["a"], status=304), 200, "OK") == (200, None)
    assert headers(Hold("response", ["a"], status=304))["Grip-Status"] == "304 Not Modified"
    # The hold's status wins over the response's; a 304 response is still not sent as such.
    assert held_status(Hold("response", ["a"], status=200), 304, "Not Modified") == (200, None)
    assert held_status(Hold("response", ["a"], status=200), 404, "Not Found") == (404, None)


@pytest.mark.parametrize("status", [204, 304, 101])
def test_a_stream_hold_on_a_bodiless_status_is_refused(status):
    with pytest.raises(InvalidHold, match="no body to stream into"):
        Hold("stream", ["a"], status=status)
    Hold("response", ["a"], status=status)  # a long-poll may answer 304 or 204


def test_no_hold_statuses_are_1xx_204_205_and_304():
    assert {204, 205, 304} < NO_HOLD_STATUSES
    assert all(100 <= s < 200 for s in NO_HOLD_STATUSES - {204, 205, 304})
    assert not {200, 202, 301, 400, 404, 500} & NO_HOLD_STATUSES


def test_status_200_writes_no_grip_status():
    assert "Grip-Status" not in headers(Hold("stream", ["a"], status=200))


def test_grip_status_uses_a_custom_reason_or_none_for_unknown_codes():
    assert (
        headers(Hold("stream", ["a"], status=202, reason="Accepted Later"))["Grip-Status"]
        == "202 Accepted Later"
    )
    assert headers(Hold("stream", ["a"], status=299))["Grip-Status"] == "299"


def test_prefix_is_applied_once_to_every_channel():
    hold = Hold("stream", ["a", Channel("b", prev_id="1")])
    assert headers(hold, "app-")["Grip-Channel"] == "app-a, app-b; prev-id=1"


def test_prefix_is_applied_once_to_a_reused_channel_object():
    shared = Channel("news")
    first = headers(Hold("stream", [shared]), "app-")
    second = headers(Hold("stream", [shared]), "app-")
    assert first["Grip-Channel"] == second["Grip-Channel"] == "app-news"
    assert shared.name == "news"


def test_hold_accepts_a_gripcontrol_channel():
    hold = Hold("response", [gripcontrol.Channel("legacy", "3")], timeout=5)
    assert headers(hold)["Grip-Channel"] == "legacy; prev-id=3"


# -- what the proxy sends -----------------------------------------------------------------
def test_grip_last_is_parsed_into_channel_and_last_id():
    assert parse_grip_last('a; last-id=1, b; last-id="x2"') == {"a": "1", "b": "x2"}


def test_grip_last_loses_the_prefix_and_drops_other_prefixes():
    assert parse_grip_last("app-a; last-id=1, other-b; last-id=2", prefix="app-") == {"a": "1"}


@pytest.mark.parametrize("value", [None, "", "a", "a; other=1", "bad name; last-id=1"])
def test_grip_last_without_a_well_formed_last_id_gives_nothing(value):
    assert parse_grip_last(value) == {}


def test_grip_features_are_parsed_into_a_set():
    assert parse_features("skip-self, filter ,") == frozenset({"skip-self", "filter"})
    assert parse_features(None) == frozenset()


# -- meta --------------------------------------------------------------------------------
def test_meta_with_token_names_and_printable_values_is_accepted():
    assert check_meta({"user": "alice", "role-id": "7"}) == {"user": "alice", "role-id": "7"}


@pytest.mark.parametrize(
    "meta",
    [
        {"bad name": "x"},
        {"": "x"},
        {"x" * 65: "x"},
        {"user": "line\nbreak"},
        {"user": 3},
        {"user": "x" * 8193},
    ],
)
def test_meta_that_cannot_be_a_header_is_refused(meta):
    with pytest.raises(InvalidChannel, match="meta"):
        check_meta(meta)


# -- filters and subscription meta ---------------------------------------------------------------
def test_every_pushpin_filter_is_accepted_by_name():
    assert Channel("a", filters=FILTERS).filters == FILTERS


def test_an_unknown_filter_is_refused_since_pushpin_would_ignore_it():
    # Pushpin 1.36 delivers everything to a subscription with a filter it does not know.
    with pytest.raises(InvalidChannel, match="unknown filter 'skip-slef'"):
        Channel("a", filters=("skip-slef",))


def test_subscription_meta_is_written_as_grip_set_meta_quoted_when_not_a_token():
    hold = Hold(
        "stream", ["a"], meta={"user": "alice", "name": 'Ann "A" Smith', "id_format": "%(a)s", "q": "x=y"}
    )
    assert dict(hold_headers(hold))["Grip-Set-Meta"] == (
        'user=alice, name="Ann \\"A\\" Smith", id_format=%(a)s, q="x=y"'
    )


def test_values_with_commas_semicolons_or_backslashes_are_quoted():
    assert grip_set_meta([("a", "x,y"), ("b", "x;y"), ("c", "x\\y"), ("d", "")]) == (
        'a="x,y", b="x;y", c="x\\\\y", d=""'
    )


def test_subscription_meta_that_cannot_be_a_header_is_refused():
    with pytest.raises(InvalidHold, match="subscription meta"):
        Hold("stream", ["a"], meta={"bad name": "x"})
    with pytest.raises(InvalidHold, match="subscription meta"):
        Hold("stream", ["a"], meta={"user": "line\nbreak"})


def test_a_hold_with_equal_meta_is_built_once():
    first = make_hold("stream", (Channel("a"),), meta={"user": "ann"})
    assert make_hold("stream", (Channel("a"),), meta={"user": "ann"}) is first
    assert make_hold("stream", (Channel("a"),), meta={"user": "bob"}) is not first


def test_a_hold_lists_its_channels_filters_once():
    hold = Hold(
        "stream", [Channel("a", filters=("skip-self",)), Channel("b", filters=("skip-self", "var-subst"))]
    )
    assert hold.filters == ("skip-self", "var-subst")


def test_unsupported_filters_are_those_grip_feature_does_not_list():
    features = parse_features("status, filter:skip-self")
    assert unsupported_filters(["skip-self", "var-subst"], features) == ["var-subst"]
    assert unsupported_filters(["var-subst"], frozenset()) == []  # no Grip-Feature: nothing known
