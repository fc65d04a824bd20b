"""Server-Sent Events framing (grip_views.protocol.sse) and EventStreamView."""

from __future__ import annotations

import re

import pytest

from grip_views import EventStreamView, format_event
from grip_views.protocol.sse import format_comment
from grip_views.testing import messages_on


def read_events(stream: str) -> list[dict]:
    """Parse an event stream as a browser's EventSource does (WHATWG HTML, 9.2.6)."""
    events, data, event_type, last_id = [], [], "", None
    for line in re.split(r"\r\n|\r|\n", stream):
        if line == "":
            if data:
                events.append({"type": event_type or "message", "data": "\n".join(data), "id": last_id})
            data, event_type = [], ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            last_id = value
    return events


def test_event_with_type_and_id_is_framed_and_ends_with_a_blank_line():
    assert format_event("hi", event="greeting", id="7") == "event: greeting\nid: 7\ndata: hi\n\n"


def test_retry_is_written_in_milliseconds():
    assert "retry: 1500\n" in format_event("x", retry=1500)


@pytest.mark.parametrize(
    "text", ["one\ntwo\nthree", "crlf\r\nline", "cr\ronly", "trailing\n", "\nleading", ""]
)
def test_multi_line_data_reaches_eventsource_unchanged(text):
    (event,) = read_events(format_event(text))
    assert event["data"] == re.sub(r"\r\n|\r", "\n", text)


def test_each_line_becomes_its_own_data_field():
    assert format_event("a\nb") == "data: a\ndata: b\n\n"


def test_data_that_looks_like_a_field_stays_data():
    (event,) = read_events(format_event("event: fake\nid: 99\n\ndata: x"))
    assert event == {"type": "message", "data": "event: fake\nid: 99\n\ndata: x", "id": None}


def test_non_string_data_is_sent_as_compact_json():
    assert format_event({"a": [1, 2]}) == 'data: {"a":[1,2]}\n\n'


def test_event_type_and_id_reach_eventsource():
    (event,) = read_events(format_event({"n": 1}, event="update", id=42))
    assert event == {"type": "update", "data": '{"n":1}', "id": "42"}


@pytest.mark.parametrize(("field", "value"), [("event", "a\nb"), ("id", "1\r2"), ("id", "nul\0")])
def test_event_type_or_id_with_a_line_break_is_refused(field, value):
    with pytest.raises(ValueError, match=field):
        format_event("x", **{field: value})


def test_comment_is_ignored_by_eventsource():
    assert format_comment() == ":\n\n"
    assert format_comment("a\nb") == ": a\n: b\n\n"
    assert read_events(format_comment("keep\nwarm") + format_event("real")) == [
        {"type": "message", "data": "real", "id": None}
    ]


# -- EventStreamView -------------------------------------------------------------------
def test_event_stream_answers_text_event_stream_with_retry_and_a_hold(grip_client):
    response = grip_client.get_proxied("/events/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response.content == b"retry: 1500\n\n"
    assert response["Grip-Hold"] == "stream"
    assert response["Grip-Channel"] == "events"


def test_event_stream_keep_alive_is_an_sse_comment(grip_client):
    value = grip_client.get_proxied("/events/")["Grip-Keep-Alive"]
    assert value == ":\\n\\n; format=cstring; timeout=20"


def test_published_events_are_framed_for_eventsource():
    EventStreamView.publish_event("events", "line 1\nline 2", event="news", event_id="5")
    (fmt,) = messages_on("events", "http-stream")
    assert read_events(fmt["content"]) == [{"type": "news", "data": "line 1\nline 2", "id": "5"}]


def test_publish_event_sends_json_for_non_string_data_and_passes_publish_options():
    EventStreamView.publish_event("events", {"ok": True}, id="p1")
    (item,) = messages_on("events")
    assert item["id"] == "p1"
    assert item["formats"]["http-stream"]["content"] == 'data: {"ok":true}\n\n'
