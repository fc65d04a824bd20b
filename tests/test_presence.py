"""Presence on the views, through Django's test client as the proxy would call
them: WebSocket OPEN/CLOSE/DISCONNECT and keep-alives, SSE and stream heartbeat
links, expiry, occupancy signals, the members endpoint, bad input and settings."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from grip_views import EventStreamView, GripLongPollView, WebSocketView
from grip_views.presence import (
    PresenceMixin,
    channel_occupied,
    channel_vacated,
    get_presence,
    member_count,
    members,
    reset_presence,
    sweep,
    tracking,
)
from grip_views.presence import views as presence_views
from grip_views.testing import messages_on
from grip_views.testing.client import GripClient

pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    """time.time() and time.monotonic() for the presence modules, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(tracking, "time", c)
    monkeypatch.setattr(presence_views, "time", c)
    reset_presence()
    yield c
    reset_presence()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob")


def client_for(user=None) -> GripClient:
    client = GripClient()
    if user is not None:
        client.force_login(user)
    return client


def news(channel: str) -> list[dict]:
    """The presence messages published on ``channel``, as WebSockets get them."""
    return [json.loads(f["content"]) for f in messages_on(channel, "ws-message")]


def sse_news(channel: str) -> list[str]:
    return [f["content"] for f in messages_on(channel, "http-stream")]


# -- WebSockets -----------------------------------------------------------------------
def test_a_users_first_socket_joins_and_gets_the_members_its_second_tab_is_no_news(clock, alice):
    client = client_for(alice)
    first = client.websocket("/presence/ws/x/", connection_id="a1")
    assert first.accepted
    state = json.loads(first.messages[0])
    assert state == {
        "event": "presence_state",
        "channel": "room-x",
        "members": [{"key": str(alice.pk), "info": {"id": alice.pk, "username": "alice"}, "connections": 1}],
        "count": 1,
    }
    assert first["Keep-Alive-Interval"] == "25"  # GRIP_PRESENCE_HEARTBEAT: the proxy's heartbeat
    assert [(m["event"], m["member"]["key"], m["count"]) for m in news("room-x")] == [
        ("join", str(alice.pk), 1)
    ]
    member = {"key": str(alice.pk), "info": {"id": alice.pk, "username": "alice"}, "connections": 1}
    data = json.dumps({"channel": "room-x", "member": member, "count": 1}, separators=(",", ":"))
    assert sse_news("room-x") == [f"event: join\ndata: {data}\n\n"]
    second = client.websocket("/presence/ws/x/", connection_id="a2")
    assert json.loads(second.messages[0])["members"][0]["connections"] == 2
    assert len(news("room-x")) == 1  # one member, two connections: no second join
    assert members("room-x")[0].connections == 2


def test_the_last_socket_of_a_user_leaving_is_its_leave_close_or_disconnect(clock, alice, bob):
    a, b = client_for(alice), client_for(bob)
    a.websocket("/presence/ws/x/", connection_id="a1")
    a.websocket("/presence/ws/x/", connection_id="a2")
    b.websocket("/presence/ws/x/", connection_id="b1")
    a.websocket("/presence/ws/x/", [("CLOSE", b"\x03\xe8")], connection_id="a1")
    assert [m["event"] for m in news("room-x")] == ["join", "join"]  # alice has a tab left
    a.websocket("/presence/ws/x/", [("DISCONNECT", None)], connection_id="a2")
    leave = news("room-x")[-1]
    assert (leave["event"], leave["member"]["info"]["username"], leave["count"]) == ("leave", "alice", 1)
    assert [m.info["username"] for m in members("room-x")] == ["bob"]
    b.websocket("/presence/ws/x/", [("CLOSE", b"\x03\xe8")], connection_id="b1")
    assert [m["event"] for m in news("room-x")] == ["join", "join", "leave", "leave"]
    assert members("room-x") == []


def test_an_anonymous_socket_is_not_a_member_unless_the_hook_names_it(clock):
    reply = client_for().websocket("/presence/ws/x/", connection_id="anon")
    assert reply.accepted and reply.messages == []
    assert news("room-x") == [] and member_count("room-x") == 0
    guests = client_for()
    guests.websocket("/presence/guest/x/?name=zoe", connection_id="z1")
    guests.websocket("/presence/guest/x/?name=zoe", connection_id="z2")
    guests.websocket("/presence/guest/x/?name=yan", connection_id="y1")
    assert [(m.key, m.connections) for m in members("room-x")] == [("yan", 1), ("zoe", 2)]


def test_an_async_view_with_an_async_hook_has_presence_too(clock):
    client = client_for()
    reply = client.websocket("/presence/async-guest/x/?name=ann", connection_id="n1")
    assert json.loads(reply.messages[0])["members"][0]["key"] == "ann"
    client.websocket("/presence/async-guest/x/?name=ann", [("CLOSE", b"\x03\xe8")], connection_id="n1")
    assert [m["event"] for m in news("room-x")] == ["join", "leave"]


def test_a_socket_refused_by_can_subscribe_never_joins(clock, alice):
    reply = client_for(alice).websocket("/presence/ws/x-secret/", connection_id="a1")
    assert reply.status_code == 403
    assert members("room-x-secret") == [] and news("room-x-secret") == []


def test_keep_alive_requests_refresh_a_socket_at_most_every_half_heartbeat(clock, alice):
    client = client_for(alice)
    client.websocket("/presence/ws/x/", connection_id="a1")
    store = get_presence()
    expiry = {c: e for c, e in _entries(store)}["a1"]
    clock.advance(5)
    client.websocket("/presence/ws/x/", [], connection_id="a1")  # too soon: not refreshed
    assert dict(_entries(store))["a1"] == expiry
    clock.advance(10)
    client.websocket("/presence/ws/x/", [], connection_id="a1")
    assert dict(_entries(store))["a1"] == expiry + 15
    # The app was away longer than the TTL: the next keep-alive joins again.
    clock.advance(61)
    sweep()
    assert news("room-x")[-1]["event"] == "leave"
    client.websocket("/presence/ws/x/", [], connection_id="a1")
    assert news("room-x")[-1]["event"] == "join" and member_count("room-x") == 1


def _entries(store):
    from grip_views.models import PresenceEntry

    return list(PresenceEntry.objects.values_list("connection", "expires_at"))


# -- streams and Server-Sent Events ----------------------------------------------------
def _link(response) -> tuple[str, int]:
    found = re.fullmatch(r"<([^>]+)>; rel=next; timeout=(\d+)", response["Grip-Link"])
    assert found, response["Grip-Link"]
    return unquote(found.group(1)), int(found.group(2))


def test_an_sse_member_joins_gets_the_members_and_a_signed_heartbeat_link(clock, alice):
    client = client_for(alice)
    response = client.get_proxied("/presence/events/x/")
    assert response.status_code == 200 and response["Grip-Hold"] == "stream"
    body = response.content.decode()
    assert body.startswith("event: presence_state\ndata: ")
    assert json.loads(body.split("data: ", 1)[1])["members"][0]["info"]["username"] == "alice"
    link, timeout = _link(response)
    assert link.startswith("/presence/events/x/?grip_presence=") and timeout == 25
    assert [m["event"] for m in news("room-x")] == ["join"]
    # Pushpin fetches the link while the client is connected: no cookie comes with it.
    clock.advance(20)
    beat = GripClient().get_proxied(link)
    assert beat.status_code == 200 and beat.content == b""
    assert beat["Grip-Channel"] == "room-x" and beat["Grip-Hold"] == "stream"
    assert _link(beat)[0].startswith("/presence/events/x/?grip_presence=")  # a fresh link each time
    assert dict(_entries(get_presence())).popitem()[1] == clock.now + 60
    clock.advance(59)
    sweep()
    assert member_count("room-x") == 1 and len(news("room-x")) == 1


def test_a_stream_whose_heartbeats_stop_leaves_after_the_ttl(clock, alice):
    response = client_for(alice).get_proxied("/presence/stream/x/")
    assert response.content.startswith(b"[open]\nevent: presence_state\n")
    clock.advance(59)
    assert sweep() == [] and member_count("room-x") == 1
    clock.advance(2)
    assert [c.kind for c in sweep()] == ["leave"]
    assert [m["event"] for m in news("room-x")] == ["join", "leave"]
    assert "event: leave\n" in sse_news("room-x")[-1]


def test_a_heartbeat_after_expiry_joins_again(clock, alice):
    link, _ = _link(client_for(alice).get_proxied("/presence/events/x/"))
    clock.advance(61)
    sweep()
    assert GripClient().get_proxied(link).status_code == 200
    assert [m["event"] for m in news("room-x")] == ["join", "leave", "join"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("grip_presence=forged", "This next link was not made by this app."),
        ("grip_presence=", "This next link was not made by this app."),
    ],
)
def test_a_forged_heartbeat_link_is_a_403_with_a_reason(clock, query, reason):
    response = GripClient().get_proxied(f"/presence/events/x/?{query}")
    assert (response.status_code, response.content.decode()) == (403, reason + "\n")
    assert news("room-x") == []


def test_a_heartbeat_link_of_another_view_or_shape_is_refused(clock, alice):
    link, _ = _link(client_for(alice).get_proxied("/presence/events/x/"))
    token = link.split("grip_presence=", 1)[1]
    other = GripClient().get_proxied(f"/presence/events/y/?grip_presence={token}")
    assert (other.status_code, other.content) == (403, b"This next link is for another view.\n")
    from grip_views.resume import signed_link

    odd = signed_link("/presence/events/x/", "grip_presence", presence_views._SALT, {"c": "room-x"})
    response = GripClient().get_proxied(unquote(odd))
    assert (response.status_code, response.content) == (
        403,
        b"This heartbeat link is not one this app makes.\n",
    )


def test_an_anonymous_stream_is_held_without_presence(clock):
    response = GripClient().get_proxied("/presence/events/x/")
    assert response.status_code == 200 and not response.has_header("Grip-Link")
    assert news("room-x") == []


# -- occupancy -------------------------------------------------------------------------
def test_occupancy_signals_are_debounced(clock, alice, bob):
    got = []
    occupied = lambda channel, count, **kw: got.append(("occupied", channel, count))  # noqa: E731
    vacated = lambda channel, **kw: got.append(("vacated", channel))  # noqa: E731
    channel_occupied.connect(occupied)
    channel_vacated.connect(vacated)
    try:
        a = client_for(alice)
        a.websocket("/presence/ws/x/", connection_id="a1")
        client_for(bob).websocket("/presence/ws/x/", connection_id="b1")
        assert got == [("occupied", "room-x", 1)]
        client_for(bob).websocket("/presence/ws/x/", [("DISCONNECT", None)], connection_id="b1")
        a.websocket("/presence/ws/x/", [("DISCONNECT", None)], connection_id="a1")
        clock.advance(3)  # empty, then refilled within GRIP_PRESENCE_DEBOUNCE (5 s): neither signal
        sweep()
        a.websocket("/presence/ws/x/", connection_id="a2")
        clock.advance(10)
        sweep()
        assert got == [("occupied", "room-x", 1)]
        a.websocket("/presence/ws/x/", [("CLOSE", b"\x03\xe8")], connection_id="a2")
        clock.advance(4)
        assert sweep() == []
        clock.advance(2)
        assert [c.kind for c in sweep()] == ["vacated"]
        assert got == [("occupied", "room-x", 1), ("vacated", "room-x")]
        a.websocket("/presence/ws/x/", connection_id="a3")
        assert got[-1] == ("occupied", "room-x", 1)
    finally:
        channel_occupied.disconnect(occupied)
        channel_vacated.disconnect(vacated)


def test_the_sweep_command_announces_expired_members(clock, alice):
    client_for(alice).websocket("/presence/ws/x/", connection_id="a1")
    clock.advance(61)
    from io import StringIO

    out = StringIO()
    call_command("grip_presence_sweep", "--once", stdout=out)
    assert out.getvalue() == "leave room-x\n"
    assert news("room-x")[-1]["event"] == "leave"


# -- the members endpoint and Python API -----------------------------------------------
def test_the_members_endpoint_lists_members_and_refuses_denied_channels(clock, alice, bob):
    client_for(alice).websocket("/presence/ws/x/", connection_id="a1")
    client_for(alice).get_proxied("/presence/events/x/")
    client_for(bob).websocket("/presence/ws/x/", connection_id="b1")
    response = client_for().get("/presence/members/x/")
    assert response.status_code == 200
    data = response.json()
    assert data["channel"] == "room-x" and data["count"] == 2
    assert [(m["info"]["username"], m["connections"]) for m in data["members"]] == [("alice", 2), ("bob", 1)]
    from tests.presence_views import RoomSocket

    assert [m.key for m in RoomSocket.members("room-x")] == [str(alice.pk), str(bob.pk)]
    denied = client_for().get("/presence/members/x-secret/")
    assert denied.status_code == 403 and denied.content.count(b"\n") == 1


def test_the_drf_members_endpoint_applies_drfs_permissions(clock, alice):
    client_for(alice).websocket("/presence/ws/x/", connection_id="a1")
    assert client_for().get("/presence/api/members/x/").status_code == 403  # IsAuthenticated
    response = client_for(alice).get("/presence/api/members/x/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["members"][0]["info"] == {"id": alice.pk, "username": "alice"}
    denied = client_for(alice).get("/presence/api/members/x-secret/", HTTP_ACCEPT="application/json")
    assert (
        denied.status_code == 403 and denied.json()["detail"] == "Not allowed to subscribe to this channel."
    )


def test_presence_is_refused_on_a_long_poll_and_on_a_durable_stream():
    with pytest.raises(ImproperlyConfigured, match="long-poll"):
        type("Poll", (PresenceMixin, GripLongPollView), {})
    with pytest.raises(ImproperlyConfigured, match="durable"):
        type("Durable", (PresenceMixin, EventStreamView), {"durable": True})
    type("DurableSocket", (PresenceMixin, WebSocketView), {"durable": True})  # no next link needed


# -- settings --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings_", "check_id", "named"),
    [
        ({"GRIP_PRESENCE_BACKEND": "nowhere.Store"}, "grip_views.E016", "GRIP_PRESENCE_BACKEND"),
        (
            {"GRIP_PRESENCE_BACKEND": "grip_views.history.database.DatabaseHistory"},
            "grip_views.E016",
            "Presence",
        ),
        (
            {"GRIP_PRESENCE_BACKEND": "redis", "GRIP_HISTORY_REDIS_URL": "http://x"},
            "grip_views.E016",
            "GRIP_HISTORY_REDIS_URL",
        ),
        ({"GRIP_PRESENCE_TTL": 20, "GRIP_PRESENCE_HEARTBEAT": 25}, "grip_views.E017", "GRIP_PRESENCE_TTL"),
        ({"GRIP_PRESENCE_HEARTBEAT": 2.5}, "grip_views.E017", "GRIP_PRESENCE_HEARTBEAT"),
        ({"GRIP_PRESENCE_DEBOUNCE": "5s"}, "grip_views.E017", "GRIP_PRESENCE_DEBOUNCE"),
        ({"GRIP_PRESENCE_TTL": 12, "GRIP_PRESENCE_HEARTBEAT": 5}, "grip_views.W005", "WebSocket"),
    ],
)
def test_a_bad_presence_setting_is_a_system_check_message_naming_it(settings, settings_, check_id, named):
    from grip_views.checks import check_presence

    for name, value in settings_.items():
        setattr(settings, name, value)
    messages = check_presence()
    assert [m.id for m in messages] == [check_id]
    assert named in messages[0].msg and messages[0].hint


def test_the_default_presence_settings_pass_the_checks():
    from grip_views.checks import check_presence

    assert check_presence() == []
