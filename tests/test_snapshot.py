"""Snapshot, then changes: a first answer built at version V (the channel's last id,
read before the state) and a hold from V, so no change falls between the two.

Plain durable views are in tests/durable_urls.py (a board of notes), the DRF ones in
tests/drf_app (``/api/durable-todos/``, ``/api/racing-todos/``). The race is made
inside the request: a change published after the state was read (in the snapshot
hook, or after a DRF view's query) and before the proxy holds the answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from grip_views import EventStreamView
from grip_views.resume import NEXT_PARAM, next_link_for
from grip_views.testing import messages_on

from .durable_urls import add_note

pytestmark = pytest.mark.django_db(transaction=True)
board = pytest.mark.urls("tests.durable_urls")


def _events(body: str) -> list[dict[str, str]]:
    """SSE text as a list of events (``id``, ``event``, ``data``)."""
    out = []
    for block in body.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if "data" in fields:
            out.append(fields)
    return out


# --------------------------------------------------------------------- plain views
@board
def test_sse_first_connection_gets_the_snapshot_as_an_event_with_id_v_then_a_hold_from_v(
    grip_outbox, grip_client
):
    add_note("s1", "milk")
    add_note("s1", "eggs")
    response = grip_client.get_proxied("/board/s1/")
    assert response.status_code == 200
    assert _events(response.content.decode()) == [{"event": "snapshot", "id": "2", "data": '["milk","eggs"]'}]
    assert response["Grip-Channel"] == "s1; prev-id=2"
    assert "rel=next" in response["Grip-Link"] and NEXT_PARAM in response["Grip-Link"]


@board
def test_a_change_published_while_the_snapshot_is_read_reaches_the_client_after_it(grip_outbox, grip_client):
    add_note("s2", "milk")
    response = grip_client.get_proxied("/racing-board/s2/")
    # V (1) was read before the state; the hook's change got id 2 and is not in the snapshot...
    assert _events(response.content.decode()) == [{"event": "snapshot", "id": "1", "data": '["milk"]'}]
    assert response["Grip-Channel"] == "s2; prev-id=1"
    # ...so it follows the hold: published with prev-id 1, which the hold expects,
    assert [(i["id"], i["prev-id"]) for i in messages_on("s2")] == [("1", "0"), ("2", "1")]
    # and if the proxy saw it before the hold, its next link replays it once.
    link = next_link_for("/racing-board/s2/", "s2")
    replay = grip_client.get_proxied(link, HTTP_GRIP_LAST="s2; last-id=1")
    assert _events(replay.content.decode()) == [{"id": "2", "event": "note", "data": "raced"}]
    assert replay["Grip-Channel"] == "s2; prev-id=2"


@board
def test_a_client_that_resumes_gets_what_it_missed_not_a_snapshot(grip_outbox, grip_client):
    for text in ("a", "b", "c"):
        add_note("s3", text)
    response = grip_client.get_proxied("/board/s3/", HTTP_LAST_EVENT_ID="2")
    assert _events(response.content.decode()) == [
        {"id": "3", "event": "note", "data": "c"},
        {"event": "caught-up", "data": '{"last_id":"3","missed":1}'},
    ]
    assert response["Grip-Channel"] == "s3; prev-id=3"


@board
def test_long_poll_answers_the_snapshot_at_once_then_holds_from_its_version(grip_outbox, grip_client):
    add_note("s4", "milk")
    first = grip_client.get_proxied("/board-poll/s4/")
    assert not first.has_header("Grip-Hold")
    assert json.loads(first.content) == {"last_id": "1", "snapshot": ["milk"]}
    held = grip_client.get_proxied("/board-poll/s4/?after=1")
    assert held["Grip-Hold"] == "response"
    assert held["Grip-Channel"] == "s4; prev-id=1"  # a publish the proxy saw first: it asks again
    add_note("s4", "eggs")
    (answer,) = messages_on("s4", "http-response")[1:]
    assert answer["headers"]["Event-Id"] == "2" and json.loads(answer["body"]) == {"note": "eggs"}


@board
def test_websocket_gets_the_snapshot_on_open_before_anything_live(grip_outbox, grip_client):
    add_note("s5", "milk")
    ws = grip_client.websocket("/board-ws/s5/", [("OPEN", None)])
    assert ws.accepted
    assert [json.loads(m) for m in ws.messages] == [
        {"id": "1", "event": "snapshot", "data": ["milk"]},
        {"id": "1", "event": "caught-up", "missed": 0},
    ]
    assert [c["channel"] for c in ws.controls if c["type"] == "subscribe"] == ["s5"]
    resumed = grip_client.websocket("/board-ws/s5/?last_id=1", [("OPEN", None)])
    # Nothing missed, and no snapshot for a client that resumes: only where it is.
    assert [json.loads(m) for m in resumed.messages] == [{"id": "1", "event": "caught-up", "missed": 0}]


@board
def test_a_websocket_snapshot_too_big_for_an_answer_is_a_reset_and_an_error(grip_outbox, grip_client, caplog):
    """Pushpin drops a whole WebSocket answer holding a message over ~32 KB: the client
    gets a reset (reload the state over HTTP) and where to go on from, not silence."""
    add_note("s6", "x" * 40_000)
    with caplog.at_level(logging.ERROR, logger="grip_views"):
        ws = grip_client.websocket("/board-ws/s6/", [("OPEN", None)])
    assert [json.loads(m) for m in ws.messages] == [
        {"id": "1", "event": "reset"},
        {"id": "1", "event": "caught-up", "missed": 0},
    ]
    assert "snapshot is 40" in caplog.text and "over the 32000" in caplog.text


def test_a_snapshot_on_a_view_that_is_not_durable_is_refused_when_routed():
    class NotDurable(EventStreamView):
        channels = ["x"]

        def get_snapshot(self):
            return []

    with pytest.raises(ImproperlyConfigured, match="durable"):
        NotDurable.as_view()


# --------------------------------------------------------------------- DRF
def _user(name: str) -> dict[str, Any]:
    from django.contrib.auth.models import User

    from tests.drf_app.models import ApiToken

    account = User.objects.create(username=name)
    ApiToken.objects.create(key=f"token-{name}", user=account)
    return {"HTTP_AUTHORIZATION": f"Token token-{name}"}


def _create(grip_client, headers: dict[str, Any], title: str) -> dict[str, Any]:
    data = {"title": title}
    response = grip_client.post("/api/durable-todos/", data, content_type="application/json", **headers)
    assert response.status_code == 201
    return response.json()


def test_drf_event_stream_first_answer_is_the_list_at_v_and_the_hold_is_from_v(grip_outbox, grip_client):
    ann = _user("ann")
    _create(grip_client, ann, "milk")
    v = messages_on("durable.todo@event-stream")[-1]["id"]
    response = grip_client.get_proxied("/api/durable-todos/", HTTP_ACCEPT="text/event-stream", **ann)
    (first,) = _events(response.content.decode())
    assert first["id"] == v and [t["title"] for t in json.loads(first["data"])] == ["milk"]
    assert response["Grip-Channel"] == f"durable.todo@event-stream; prev-id={v}"
    assert NEXT_PARAM in response["Grip-Link"]


def test_drf_next_link_replays_the_changes_with_their_ids_without_credentials(grip_outbox, grip_client):
    ann = _user("ann")
    response = grip_client.get_proxied("/api/durable-todos/", HTTP_ACCEPT="text/event-stream", **ann)
    assert response["Grip-Channel"] == "durable.todo@event-stream; prev-id=0"
    _create(grip_client, ann, "milk")
    _create(grip_client, ann, "eggs")
    link = next_link_for("/api/durable-todos/", "durable.todo@event-stream")
    # The proxy fetches it with Grip-Last only: no token, no cookie, no Accept.
    replay = grip_client.get_proxied(link, HTTP_GRIP_LAST="durable.todo@event-stream; last-id=0")
    assert replay.status_code == 200
    events = _events(replay.content.decode())
    assert [(e["id"], e["event"], json.loads(e["data"])["title"]) for e in events] == [
        ("1", "created", "milk"),
        ("2", "created", "eggs"),
    ]
    assert replay["Grip-Channel"] == "durable.todo@event-stream; prev-id=2"
    assert replay["Grip-Keep-Alive"].startswith(":")  # still an SSE stream
    forged = grip_client.get_proxied(
        f"/api/durable-todos/?{NEXT_PARAM}=x", HTTP_GRIP_LAST="durable.todo@event-stream; last-id=0"
    )
    assert forged.status_code == 403 and b"milk" not in forged.content


def test_drf_long_poll_holds_from_the_version_its_answer_was_built_at(grip_outbox, grip_client):
    ann = _user("ann")
    todo = _create(grip_client, ann, "milk")
    response = grip_client.get_proxied(f"/api/durable-todos/?after={todo['version']}", **ann)
    assert response.json() == []
    assert response["Grip-Channel"] == "durable.todo; prev-id=1"
    (item,) = messages_on("durable.todo")
    assert item["formats"]["http-response"]["headers"]["Event-Id"] == "1"


def test_drf_change_between_the_query_and_the_hold_reaches_the_long_poll(grip_outbox, grip_client):
    """Issue 17.3: the change after the query is published with prev-id V, the
    version the empty answer was built at, so the proxy asks again at once."""
    ann = _user("ann")
    todo = _create(grip_client, ann, "milk")
    url = f"/api/racing-todos/?after={todo['version']}&race=eggs"
    response = grip_client.get_proxied(url, **ann)
    assert response.json() == []  # the query ran before the change
    assert response["Grip-Channel"] == "durable.todo; prev-id=1"
    raced = messages_on("durable.todo")[-1]
    assert (raced["id"], raced["prev-id"]) == ("2", "1")  # not what the hold expects next: a retry
    retried = grip_client.get_proxied(url, HTTP_GRIP_LAST="durable.todo; last-id=1", **ann)
    assert [t["title"] for t in retried.json()] == ["eggs"]
    assert not retried.has_header("Grip-Hold")


def test_drf_durable_change_and_its_events_commit_together(grip_outbox, grip_client):
    from grip_views.history import get_history

    ann = _user("ann")
    todo = _create(grip_client, ann, "milk")
    patched = grip_client.patch(
        f"/api/durable-todos/{todo['id']}/", {"done": True}, content_type="application/json", **ann
    )
    assert patched.status_code == 200
    assert get_history().last_id(f"durable.todo.{todo['id']}") == 2
    assert get_history().unsent_channels() == []


def test_a_non_durable_drf_long_poll_warns_once_that_it_can_miss_a_change(grip_outbox, grip_client, caplog):
    from grip_views.rest_framework import mixins

    ann = _user("ann")
    mixins._warned.clear()
    caplog.set_level(logging.WARNING, "grip_views")
    for _ in range(2):
        assert grip_client.get_proxied("/api/todos/?after=0", **ann)["Grip-Hold"] == "response"
    warnings = [r for r in caplog.records if "without a version" in r.getMessage()]
    assert len(warnings) == 1 and "durable = True" in warnings[0].getMessage()
