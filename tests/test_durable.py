"""Durable publishes (stored in the transaction, sent after commit with id/prev-id,
retried while the proxy refuses) and resuming from the last id (SSE, long-poll,
WebSocket), with the in-memory publisher and signed requests."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import transaction
from gripcontrol import HttpStreamFormat

from grip_views import publish
from grip_views.durable import get_sender, send_unsent
from grip_views.history import get_history
from grip_views.resume import NEXT_PARAM, next_link_for
from grip_views.testing import messages_on

from .durable_urls import Events, Poll, Socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.durable_urls")]


class RefusingPublisher:
    """A proxy that is down: every publish fails."""

    calls = 0

    def publish_items(self, items, blocking=True):
        from grip_views.exceptions import PublishError, PublishFailure

        RefusingPublisher.calls += 1
        raise PublishError([PublishFailure("http://127.0.0.1:1", [i["channel"] for i in items], "refused")])

    def flush(self, timeout=None):
        return True

    def close(self, timeout=None):
        pass


def test_durable_publishes_are_sent_after_commit_with_ids_and_prev_ids(grip_outbox):
    with transaction.atomic():
        first = Events.publish_event("d1", "one")
        second = Events.publish_event("d1", {"n": 2}, event="update")
        assert grip_outbox == []  # nothing leaves before the commit
    assert (first, second) == (1, 2)
    items = messages_on("d1")
    assert [(i["id"], i["prev-id"]) for i in items] == [("1", "0"), ("2", "1")]
    assert items[1]["formats"]["http-stream"]["content"] == 'id: 2\nevent: update\ndata: {"n":2}\n\n'
    assert get_history().unsent_channels() == []


def test_a_rolled_back_change_stores_and_sends_nothing(grip_outbox):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish("d2", HttpStreamFormat("x"), durable=True)
        raise RuntimeError("the change failed")
    assert grip_outbox == []
    assert get_history().last_id("d2") == 0


def test_an_append_that_fails_inside_the_caller_s_transaction_rolls_the_change_back(grip_outbox, monkeypatch):
    """The append adds no savepoint of its own: a failed statement marks the caller's
    transaction for rollback, so the change and its earlier events go too."""
    from django.db import DatabaseError

    from grip_views.history import database

    def failing(*args):
        raise DatabaseError("disk I/O error")

    with transaction.atomic():
        assert publish("d3", HttpStreamFormat("one"), durable=True) == 1
        monkeypatch.setattr(database, "_append_event", failing)
        with pytest.raises(DatabaseError):
            publish("d3", HttpStreamFormat("two"), durable=True)
        assert transaction.get_rollback()
    monkeypatch.undo()
    assert grip_outbox == []
    assert get_history().last_id("d3") == 0


def test_durable_publish_refuses_an_id_of_its_own():
    with pytest.raises(ValueError, match="id"):
        publish("d3", HttpStreamFormat("x"), id="7", durable=True)


def test_a_proxy_that_refuses_gets_retries_logged_and_the_events_stay_until_sent(settings, caplog):
    import time

    from grip_views.testing import outbox

    settings.GRIP_PUBLISH_BACKEND = "tests.test_durable.RefusingPublisher"
    settings.GRIP_OUTBOX_RETRY_MAX = 0.2
    caplog.set_level(logging.ERROR, "grip_views")
    before = RefusingPublisher.calls
    # Both stored in one transaction: the sender thread, which reads and
    # retries on its own, never races a write of the test's (SQLite's shared
    # in-memory test database answers a concurrent write "table is locked").
    with transaction.atomic():
        Events.publish_event("d4", "kept")
        Events.publish_event("d4", "kept too")
    deadline = time.monotonic() + 10
    while RefusingPublisher.calls < before + 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert RefusingPublisher.calls >= before + 3  # the first try after commit, then the sender's retries
    assert any("not accepted" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records)
    assert get_history().unsent_channels() == ["d4"]
    settings.GRIP_PUBLISH_BACKEND = "grip_views.testing.InMemoryPublisher"
    # A bound, not a speed: the next try is due within GRIP_OUTBOX_RETRY_MAX.
    assert get_sender().wait_idle(30), get_sender().stats
    assert [i["id"] for i in outbox if i["channel"].endswith("d4")] == ["1", "2"]
    assert get_history().unsent_channels() == []


def test_events_a_dead_process_left_unsent_are_sent_by_send_unsent(grip_outbox):
    store = get_history()
    store.append("d5", {"sse": "data: orphan\n\n"})  # stored, never sent: the process died
    assert send_unsent() == 1
    assert [i["id"] for i in messages_on("d5")] == ["1"]


def test_grip_outbox_once_sends_what_is_unsent(grip_outbox, capsys):
    from django.core.management import call_command

    get_history().append("d6", {"sse": "data: left\n\n"})
    call_command("grip_outbox", "--once")
    assert "sent 1 event(s)" in capsys.readouterr().out
    assert len(messages_on("d6")) == 1


# --------------------------------------------------------------------- resume
def _publish(channel, n):
    for i in range(n):
        Events.publish_event(channel, f"e{i + 1}")


def test_last_event_id_gets_every_missed_event_then_a_reliable_hold(grip_outbox, grip_client):
    _publish("r1", 5)
    response = grip_client.get_proxied("/events/r1/", HTTP_LAST_EVENT_ID="2")
    assert response.status_code == 200
    body = response.content.decode()
    caught_up = 'event: caught-up\ndata: {"last_id":"5","missed":3}\n\n'
    assert body == "id: 3\ndata: e3\n\nid: 4\ndata: e4\n\nid: 5\ndata: e5\n\n" + caught_up
    assert response["Grip-Channel"] == "r1; prev-id=5"
    assert "rel=next" in response["Grip-Link"] and NEXT_PARAM in response["Grip-Link"]


def test_a_first_connection_may_give_its_last_id_as_a_query_parameter(grip_outbox, grip_client):
    _publish("r2", 3)
    response = grip_client.get_proxied("/events/r2/?last_event_id=1")
    assert response.content.decode().startswith("id: 2\n")
    fresh = grip_client.get_proxied("/events/r2/")
    assert fresh.content == b"id: 3\n\n"  # no event, but EventSource keeps 3 as its last id
    assert fresh["Grip-Channel"] == "r2; prev-id=3"


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "9" * 30, "1; drop"])
def test_a_malformed_last_event_id_is_a_400_never_a_500(grip_outbox, grip_client, bad):
    response = grip_client.get_proxied("/events/r3/", HTTP_LAST_EVENT_ID=bad)
    assert response.status_code == 400
    assert b"Last-Event-ID" in response.content


@pytest.mark.parametrize("last", ["1", "99"])
def test_an_id_the_history_does_not_have_gets_a_reset_event(grip_outbox, grip_client, settings, last):
    _publish("r4", 4)
    get_history().trim(max_events=2)
    response = grip_client.get_proxied("/events/r4/", HTTP_LAST_EVENT_ID=last)
    assert response.status_code == 200
    assert response.content.decode().startswith("event: reset\nid: 4\n")
    assert response["Grip-Channel"] == "r4; prev-id=4"


def test_authorization_runs_before_any_replay(grip_outbox, grip_client):
    _publish("secret-r5", 2)
    response = grip_client.get_proxied("/events/secret-r5/", HTTP_LAST_EVENT_ID="0")
    assert response.status_code == 403
    assert b"e1" not in response.content


def test_the_next_link_replays_after_grip_last_and_holds_again(grip_outbox, grip_client):
    _publish("r6", 4)
    link = next_link_for("/events/r6/", "r6")
    response = grip_client.get_proxied(link, HTTP_GRIP_LAST="r6; last-id=2")
    assert response.status_code == 200
    assert response.content.decode() == "id: 3\ndata: e3\n\nid: 4\ndata: e4\n\n"
    assert response["Grip-Channel"] == "r6; prev-id=4"


def test_a_forged_or_moved_next_link_reads_nothing(grip_outbox, grip_client):
    _publish("secret-r7", 2)
    forged = f"/events/secret-r7/?{NEXT_PARAM}=" + json.dumps({"p": "/events/secret-r7/", "c": "secret-r7"})
    response = grip_client.get_proxied(forged, HTTP_GRIP_LAST="secret-r7; last-id=0")
    assert response.status_code == 403 and b"e1" not in response.content
    # a genuine link of another channel, used on this view's path
    other = next_link_for("/events/r7/", "secret-r7").replace("/events/r7/", "/events/secret-r7/")
    response = grip_client.get_proxied(other, HTTP_GRIP_LAST="secret-r7; last-id=0")
    assert response.status_code == 403 and b"e1" not in response.content


def test_long_poll_after_answers_at_once_with_what_was_missed(grip_outbox, grip_client):
    for n in range(3):
        Poll.publish("p1", f"body {n}")
    response = grip_client.get_proxied("/poll/p1/?after=1")
    assert response.status_code == 200 and not response.has_header("Grip-Hold")
    data = json.loads(response.content)
    assert data == {"last_id": "3", "events": [{"id": "2", "body": "body 1"}, {"id": "3", "body": "body 2"}]}
    assert messages_on("p1", "http-response")[0]["headers"]["Event-Id"] == "1"
    held = grip_client.get_proxied("/poll/p1/?after=3")
    assert held["Grip-Hold"] == "response"
    assert grip_client.get_proxied("/poll/p1/?after=x").status_code == 400
    assert json.loads(grip_client.get_proxied("/poll/p1/?after=50").content)["reset"] is True


def test_a_websocket_with_last_id_gets_what_it_missed_before_anything_live(grip_outbox, grip_client):
    for n in range(3):
        Socket.publish("w1", {"n": n})
    assert json.loads(messages_on("w1", "ws-message")[0]["content"]) == {"id": "1", "data": {"n": 0}}
    ws = grip_client.websocket("/ws/w1/?last_id=1", [("OPEN", None)])
    assert ws.accepted
    assert [json.loads(m)["id"] for m in ws.messages] == ["2", "3", "3"]
    assert json.loads(ws.messages[-1]) == {"id": "3", "event": "caught-up", "missed": 2}
    bad = grip_client.websocket("/ws/w1/?last_id=nope", [("OPEN", None)])
    assert bad.status_code == 400


def test_a_long_websocket_replay_comes_in_pages_the_client_follows_with_last_id(
    grip_outbox, grip_client, monkeypatch
):
    # Pushpin drops what of an accept it cannot buffer: a replay is cut in pages of
    # replay_page_bytes, each ending in caught-up with "more" but the last.
    monkeypatch.setattr(Socket, "replay_page_bytes", 100)
    for n in range(12):
        Socket.publish("pg", {"n": n})
    after, got, pages = 0, [], []
    while True:
        ws = grip_client.websocket(f"/ws/pg/?last_id={after}", [("OPEN", None)])
        *events, caught_up = [json.loads(m) for m in ws.messages]
        assert sum(len(m.encode()) for m in ws.messages[:-1]) <= 100 or len(events) == 1
        got += [int(e["id"]) for e in events]
        pages.append(caught_up)
        after = int(caught_up["id"])
        if not caught_up.get("more"):
            break
    assert got == list(range(1, 13))
    assert [p["id"] for p in pages] == ["4", "8", "11", "12"]  # 25-26 bytes each: 4, 4, 3 and 1
    assert all(p.get("more") for p in pages[:-1])
    assert pages[-1] == {
        "id": "12",
        "event": "caught-up",
        "missed": 12 - sum(p["missed"] for p in pages[:-1]),
    }
    # One message bigger than a page still goes, alone.
    monkeypatch.setattr(Socket, "replay_page_bytes", 1)
    one = grip_client.websocket("/ws/pg/?last_id=10", [("OPEN", None)])
    assert [json.loads(m) for m in one.messages][1] == {
        "id": "11",
        "event": "caught-up",
        "missed": 1,
        "more": True,
    }


def test_a_replayed_message_too_big_for_an_answer_is_a_reset_past_it(grip_outbox, grip_client, caplog):
    """Pushpin drops a whole WebSocket answer holding a message over ~32 KB (a live
    publish carries it): a resuming client gets a reset for that id, then the rest."""
    Socket.publish("bg", "small")
    Socket.publish("bg", "x" * 40_000)
    Socket.publish("bg", "after")
    with caplog.at_level(logging.ERROR, logger="grip_views"):
        first = grip_client.websocket("/ws/bg/?last_id=0", [("OPEN", None)])
    assert [json.loads(m).get("data") for m in first.messages] == ["small", None]
    assert json.loads(first.messages[-1]) == {"id": "1", "event": "caught-up", "missed": 1, "more": True}
    second = grip_client.websocket("/ws/bg/?last_id=1", [("OPEN", None)])
    assert [json.loads(m) for m in second.messages] == [
        {"id": "2", "event": "reset"},
        {"id": "2", "event": "caught-up", "missed": 1, "more": True},
    ]
    assert "event 2 of 'bg' is 40" in caplog.text
    third = grip_client.websocket("/ws/bg/?last_id=2", [("OPEN", None)])
    assert [json.loads(m).get("data") for m in third.messages] == ["after", None]
    assert json.loads(third.messages[-1]) == {"id": "3", "event": "caught-up", "missed": 1}


def test_a_resume_ends_with_how_many_events_it_caught_up_on(grip_outbox, grip_client):
    _publish("c1", 2)
    nothing_missed = grip_client.get_proxied("/events/c1/", HTTP_LAST_EVENT_ID="2")
    assert nothing_missed.content == b'event: caught-up\ndata: {"last_id":"2","missed":0}\n\n'
    reset = grip_client.get_proxied("/events/c1/", HTTP_LAST_EVENT_ID="7").content.decode()
    assert "caught-up" not in reset and reset.startswith("event: reset\n")
    for n in range(2):
        Socket.publish("c1", n)
    first = grip_client.websocket("/ws/c1/", [("OPEN", None)])
    # A first connection learns the channel's last id, to resume from even before any event.
    assert [json.loads(m) for m in first.messages] == [{"id": "4", "event": "caught-up", "missed": 0}]


def test_caught_up_event_none_sends_no_marker(grip_outbox, grip_client, monkeypatch):
    monkeypatch.setattr(Events, "caught_up_event", None)
    monkeypatch.setattr(Socket, "caught_up_event", None)
    _publish("c2", 2)
    assert grip_client.get_proxied("/events/c2/", HTTP_LAST_EVENT_ID="1").content == b"id: 2\ndata: e2\n\n"
    for n in range(2):
        Socket.publish("c3", n)
    assert grip_client.websocket("/ws/c3/", [("OPEN", None)]).messages == []
    resumed = grip_client.websocket("/ws/c3/?last_id=1", [("OPEN", None)])
    assert [json.loads(m)["id"] for m in resumed.messages] == ["2"]


def test_a_durable_broadcast_without_self_is_stored_and_sent_with_this_socket_as_sender(
    grip_outbox, grip_client
):
    reply = grip_client.websocket("/room/w9/", [("OPEN", None), ("TEXT", b'{"say": "hi"}')])
    assert reply.accepted
    (item,) = messages_on("w9")
    assert item["meta"]["sender"] == "conn-1"
    assert item["id"] == "1"
    assert json.loads(item["formats"]["ws-message"]["content"]) == {"id": "1", "data": {"say": "hi"}}


def test_the_sent_count_adds_every_thread_s_sends(monkeypatch):
    """Request threads send after their commits while the retry thread sends too:
    none of their counts is lost (``stats["sent"] += send()`` lost them)."""
    import threading
    import time

    from grip_views import durable
    from grip_views.durable import OutboxSender

    def slow_send(channel: str) -> int:
        time.sleep(0.01)  # another thread adds meanwhile
        return 1

    monkeypatch.setattr(durable, "send_channel", slow_send)
    sender = OutboxSender()
    threads = [threading.Thread(target=sender.after_commit, args=(f"c{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sender.stats["sent"] == 8


class GatedPublisher:
    """A proxy that holds each publish request until the test opens the gate."""

    batches: list[list[str]] = []
    entered = None
    gate = None

    def publish_items(self, items, blocking=True):
        GatedPublisher.batches.append([i["id"] for i in items])
        GatedPublisher.entered.set()
        assert GatedPublisher.gate.wait(10), "the test never opened the gate"

    def flush(self, timeout=None):
        return True

    def close(self, timeout=None):
        pass


@pytest.fixture
def gated(settings):
    """The sender thread on (GRIP_OUTBOX_THREAD), publishing to a GatedPublisher whose
    gate the test opens; opened at the end whatever happened."""
    import threading

    settings.GRIP_OUTBOX_THREAD = True
    settings.GRIP_PUBLISH_BACKEND = "tests.test_durable.GatedPublisher"
    GatedPublisher.batches, GatedPublisher.entered, GatedPublisher.gate = (
        [],
        threading.Event(),
        threading.Event(),
    )
    try:
        yield GatedPublisher
    finally:
        GatedPublisher.gate.set()


def test_the_sender_thread_sends_after_commit_and_batches_what_commits_meanwhile(gated):
    """With GRIP_OUTBOX_THREAD (the default) a commit does not wait for the proxy:
    the sender thread sends, and what commits during its request goes in the next."""
    sender = get_sender()
    with transaction.atomic():
        Events.publish_event("t1", "one")
    assert gated.entered.wait(10)  # the thread is in its request for 1...
    for text in ("two", "three"):  # ...and these commits do not wait for it
        with transaction.atomic():
            Events.publish_event("t1", text)
    assert gated.batches == [["1"]]
    assert get_history().unsent_channels() == ["t1"]
    gated.gate.set()
    assert sender.wait_idle(30), sender.stats
    assert gated.batches == [["1"], ["2", "3"]]
    assert get_history().unsent_channels() == []


def test_the_sender_thread_lingers_after_a_send_so_a_steady_channel_goes_in_batches(gated, monkeypatch):
    """A commit within LINGER of the channel's last send waits for it, and what commits
    meanwhile joins the batch; a commit after a quiet spell goes at once."""
    import time

    from grip_views import durable

    monkeypatch.setattr(durable, "LINGER", 1.0)
    gated.gate.set()  # the proxy answers at once
    sender = get_sender()
    with transaction.atomic():
        Events.publish_event("t3", "one")
    assert sender.wait_idle(30), sender.stats
    for text in ("two", "three"):
        with transaction.atomic():
            Events.publish_event("t3", text)
    time.sleep(0.1)
    assert gated.batches == [["1"]]  # two and three wait out the linger...
    assert sender.wait_idle(30), sender.stats
    assert gated.batches == [["1"], ["2", "3"]]  # ...and go in one request
    time.sleep(1.1)  # a quiet spell
    with transaction.atomic():
        Events.publish_event("t3", "four")
    assert sender.wait_idle(0.8), "a commit after a quiet spell waited for the linger"
    assert gated.batches[-1] == ["4"]


def test_commits_on_a_channel_already_due_wake_the_sender_thread_once(gated, monkeypatch):
    """The first commit schedules the channel and wakes the thread; the commits
    while it is still due do not: each woke it for nothing, and during a burst
    one per transaction those wake-ups took the GIL from the requests (bench l,
    "delivery under a sustained burst")."""
    from grip_views import durable

    monkeypatch.setattr(durable, "LINGER", 1.0)
    gated.gate.set()  # the proxy answers at once
    sender = get_sender()
    wakes: list[int] = []
    notify = sender._cond.notify

    def counting(n: int = 1) -> None:
        wakes.append(n)
        notify(n)

    monkeypatch.setattr(sender._cond, "notify", counting)
    with transaction.atomic():
        Events.publish_event("t4", "zero")
    # orphans=False: the sender's look for what dead processes left, made on its
    # first publish, can meet this test's database locked and retry later.
    assert sender.wait_idle(30, orphans=False), sender.stats
    wakes.clear()
    for i in range(20):  # within LINGER: the channel stays due until the thread sends it
        with transaction.atomic():
            Events.publish_event("t4", f"#{i}")
    assert wakes == [1]
    assert sender.wait_idle(30, orphans=False), sender.stats
    assert gated.batches == [["1"], [str(i) for i in range(2, 22)]]


def test_wait_idle_times_out_while_a_send_is_under_way(gated):
    sender = get_sender()
    with transaction.atomic():
        Events.publish_event("t2", "one")
    assert gated.entered.wait(10)
    assert sender.wait_idle(0.05) is False
    assert sender.pending() == 1
    gated.gate.set()
    assert sender.wait_idle(30), sender.stats
    assert sender.pending() == 0


def test_a_bad_outbox_thread_setting_is_a_check_error(settings):
    from grip_views.checks import check_history

    settings.GRIP_OUTBOX_THREAD = "yes"
    (error,) = check_history()
    assert error.id == "grip_views.E010" and "GRIP_OUTBOX_THREAD must be True or False" in error.msg


def test_the_sender_thread_on_sqlite_without_immediate_transactions_is_a_check_warning(settings, monkeypatch):
    """The sender writes beside the requests: a deferred SQLite transaction that read
    before its write cannot write after it ('database is locked', seen as a 500)."""
    from django.conf import settings as django_settings

    from grip_views.checks import check_history

    settings.GRIP_OUTBOX_THREAD = True
    (warning,) = check_history()
    assert warning.id == "grip_views.W006" and "'default'" in warning.msg
    assert 'DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"' in warning.hint
    monkeypatch.setitem(django_settings.DATABASES["default"], "OPTIONS", {"transaction_mode": "IMMEDIATE"})
    assert check_history() == []
    monkeypatch.setitem(django_settings.DATABASES["default"], "OPTIONS", {})
    settings.GRIP_OUTBOX_THREAD = False  # the committing thread sends: no writer beside it
    assert check_history() == []
