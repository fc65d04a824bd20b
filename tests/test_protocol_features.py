"""The GRIP and WebSocket-over-HTTP features of the views, in memory: subscription
meta and filters, "everyone but me", keep-alives, delayed messages, sessions,
disconnects, hints, the subscription cap. What Pushpin 1.36 does with each is
in tests/e2e/test_protocol_features_e2e.py."""

from __future__ import annotations

import logging

import pytest
from django.http import HttpResponse
from django.urls import path

from grip_views import Channel, GripLongPollView, GripStreamView, JsonWebSocketView, WebSocketView
from grip_views.exceptions import ProtocolError
from grip_views.protocol.websocket import WebSocketEvent
from grip_views.testing import messages_on

E = WebSocketEvent
pytestmark = pytest.mark.urls(__name__)


# -- views -------------------------------------------------------------------------------
class Feed(GripStreamView):
    """A stream whose subscriber is named by ?user=, skipping what that user sent."""

    channels = [Channel("feed", filters=("skip-self",))]
    next_link = "/feed/next/"

    def get_subscription_meta(self):
        return {"user": self.request.GET["user"]}


class Greeting(GripLongPollView):
    """A long-poll whose published body names the subscriber (var-subst)."""

    channels = [Channel("greeting", filters=("var-subst",))]
    subscription_meta = {"name": "Ann Smith"}


class Plain(GripStreamView):
    channels = ["plain"]


class Chat(WebSocketView):
    """Everyone but me: skip_self, and broadcast(include_self=False)."""

    channels = ["room"]
    skip_self = True

    def on_message(self, message):
        verb, _, arg = message.partition(" ")
        if verb == "all":
            self.broadcast(arg)
        elif verb == "others":
            self.broadcast(arg, include_self=False)
        elif verb == "join":
            self.subscribe(arg)
        elif verb == "later":
            self.send_delayed(arg, 3)
        elif verb == "flush":
            self.flush_delayed()
        elif verb == "session":
            self.set_session(arg or None)
        elif verb == "meta":
            name, _, value = arg.partition("=")
            self.set_subscription_meta(name, value or None)
        elif verb == "ping-every":
            self.ws.keep_alive(b"hb", int(arg), message_type="ping")
        elif verb == "bye":
            self.send("going")
            self.disconnect()


class UserChat(Chat):
    """ "Self" is every socket of the user: the subscription meta names them."""

    def get_subscription_meta(self):
        return {"user": self.request.GET.get("user", "ann")}


class Unfiltered(WebSocketView):
    """No skip-self: broadcast(include_self=False) would reach the sender."""

    channels = ["room"]

    def on_message(self, message):
        self.broadcast(message, include_self=False)


class PerChannel(WebSocketView):
    """skip-self on one channel only, without skip_self on the view."""

    channels = [Channel("quiet", filters=("skip-self",)), "loud"]

    def on_message(self, message):
        self.broadcast(message, channel=Channel("quiet", filters=("skip-self",)), include_self=False)


class JsonChat(JsonWebSocketView):
    channels = ["json-room"]
    skip_self = True

    def on_message(self, message):
        self.broadcast(message, include_self=False)


class Heartbeat(WebSocketView):
    """Every connection option set on the class."""

    channels = ["beats"]
    keep_alive = b"hb"
    keep_alive_interval = 30
    keep_alive_type = "ping"
    request_interval = 25
    subscription_meta = {"user": "alice", "id_format": "%(beats)s"}


class Crowded(WebSocketView):
    def channels_for(self):
        return [f"c{i}" for i in range(int(self.request.GET.get("n", "25")))]


class CrowdedStream(GripStreamView):
    def channels_for(self):
        return [f"s{i}" for i in range(25)]


class Sorted(GripStreamView):
    channels = [Channel("sorted", filters=("build-id",), prev_id="0")]
    next_link = "/sorted/next/"
    subscription_meta = {"id_format": "%(sorted)s"}


urlpatterns = [
    path("feed/", Feed.as_view()),
    path("greeting/", Greeting.as_view()),
    path("plain/", Plain.as_view()),
    path("chat/", Chat.as_view()),
    path("user-chat/", UserChat.as_view()),
    path("unfiltered/", Unfiltered.as_view()),
    path("per-channel/", PerChannel.as_view()),
    path("json-chat/", JsonChat.as_view()),
    path("heartbeat/", Heartbeat.as_view()),
    path("crowded/", Crowded.as_view()),
    path("crowded-stream/", CrowdedStream.as_view()),
    path("sorted/", Sorted.as_view()),
    path("ok/", lambda request: HttpResponse("ok")),
]


def text(message: str) -> tuple[str, bytes]:
    return ("TEXT", message.encode())


# -- subscription meta on holds: Grip-Set-Meta -------------------------------------------------
def test_a_stream_hold_carries_its_subscription_meta_as_grip_set_meta(grip_client):
    response = grip_client.get_proxied("/feed/", {"user": "alice"})
    assert response["Grip-Channel"] == "feed; filter=skip-self"
    assert response["Grip-Set-Meta"] == "user=alice"


def test_a_long_poll_hold_carries_its_subscription_meta_quoted_when_needed(grip_client):
    response = grip_client.get_proxied("/greeting/")
    assert response["Grip-Hold"] == "response"
    assert response["Grip-Set-Meta"] == 'name="Ann Smith"'


def test_a_hold_without_subscription_meta_writes_no_grip_set_meta(grip_client):
    assert not grip_client.get_proxied("/plain/").has_header("Grip-Set-Meta")


def test_build_id_needs_a_prev_id_and_an_id_format(grip_client):
    response = grip_client.get_proxied("/sorted/")
    assert response["Grip-Channel"] == "sorted; prev-id=0; filter=build-id"
    assert response["Grip-Set-Meta"] == "id_format=%(sorted)s"


# -- everyone but me ---------------------------------------------------------------------------
def test_a_skip_self_socket_names_itself_and_subscribes_with_the_filter_on_open(grip_client):
    reply = grip_client.websocket("/chat/", [("OPEN", None)], connection_id="c-1")
    assert reply.accepted
    assert reply.controls == [
        {"type": "set-meta", "name": "user", "value": "c-1"},
        {"type": "subscribe", "channel": "room", "filters": ["skip-self"]},
    ]


def test_broadcast_without_self_publishes_with_this_socket_as_sender(grip_client, grip_outbox):
    grip_client.websocket("/chat/", [text("others hello")], connection_id="c-1")
    (item,) = messages_on("room")
    assert item["meta"] == {"sender": "c-1"}  # the proxy skips the subscription whose user is c-1
    assert item["formats"] == {"ws-message": {"content": "hello"}}


def test_broadcast_with_self_has_no_sender(grip_client, grip_outbox):
    grip_client.websocket("/chat/", [text("all hello")], connection_id="c-1")
    (item,) = messages_on("room")
    assert "meta" not in item


def test_a_channel_joined_later_is_skip_self_too_and_names_the_socket_again(grip_client):
    reply = grip_client.websocket("/chat/", [text("join side")], connection_id="c-1")
    assert reply.controls == [
        {"type": "set-meta", "name": "user", "value": "c-1"},
        {"type": "subscribe", "channel": "side", "filters": ["skip-self"]},
    ]


def test_self_is_the_user_when_the_subscription_meta_names_one(grip_client, grip_outbox):
    opened = grip_client.websocket("/user-chat/?user=ann", [("OPEN", None)], connection_id="c-1")
    assert opened.controls == [  # no second set-meta with the connection id
        {"type": "set-meta", "name": "user", "value": "ann"},
        {"type": "subscribe", "channel": "room", "filters": ["skip-self"]},
    ]
    grip_client.websocket("/user-chat/?user=ann", [text("others hi")], connection_id="c-2")
    assert messages_on("room")[0]["meta"] == {"sender": "ann"}  # every tab of ann is skipped


def test_broadcast_without_self_refuses_a_socket_without_skip_self_instead_of_echoing(
    grip_client, grip_outbox, caplog
):
    with caplog.at_level(logging.ERROR):
        reply = grip_client.websocket("/unfiltered/", [text("hi")])
    assert reply.close_code == 1011
    assert "skip_self = True" in caplog.text
    assert grip_outbox == []


def test_a_skip_self_channel_may_be_named_per_channel(grip_client, grip_outbox):
    opened = grip_client.websocket("/per-channel/", [("OPEN", None)], connection_id="c-9")
    assert opened.controls == [
        {"type": "set-meta", "name": "user", "value": "c-9"},
        {"type": "subscribe", "channel": "quiet", "filters": ["skip-self"]},
        {"type": "subscribe", "channel": "loud"},
    ]
    grip_client.websocket("/per-channel/", [text("psst")], connection_id="c-9")
    assert [i["channel"] for i in grip_outbox] == ["quiet"]
    assert grip_outbox[0]["meta"] == {"sender": "c-9"}


def test_a_json_socket_broadcasts_json_to_the_others(grip_client, grip_outbox):
    grip_client.websocket("/json-chat/", [text('{"n": 1}')], connection_id="c-3")
    (item,) = messages_on("json-room")
    assert item["formats"]["ws-message"] == {"content": '{"n":1}'}
    assert item["meta"] == {"sender": "c-3"}


def test_a_plain_socket_sends_no_control_message_it_did_not_ask_for(grip_client):
    reply = grip_client.websocket("/unfiltered/", [("OPEN", None)])
    assert reply.controls == [{"type": "subscribe", "channel": "room"}]
    assert not reply.has_header("Keep-Alive-Interval")


# -- connection options on open ---------------------------------------------------------------
def test_connection_options_are_sent_once_on_open(grip_client):
    reply = grip_client.websocket("/heartbeat/", [("OPEN", None)])
    assert reply["Keep-Alive-Interval"] == "25"
    assert reply.controls == [
        {"type": "set-meta", "name": "user", "value": "alice"},
        {"type": "set-meta", "name": "id_format", "value": "%(beats)s"},
        {"type": "keep-alive", "message-type": "ping", "content-bin": "aGI=", "timeout": 30},
        {"type": "subscribe", "channel": "beats"},
    ]
    later = grip_client.websocket("/heartbeat/", [text("hi")])
    assert later.controls == []
    assert not later.has_header("Keep-Alive-Interval")


def test_a_request_with_no_events_as_the_keep_alive_interval_sends_is_answered_empty(grip_client):
    # Pushpin sends its Content-Type with the empty body; Django's client drops it unless told.
    reply = grip_client.websocket("/heartbeat/", b"", CONTENT_TYPE="application/websocket-events")
    assert reply.status_code == 200
    assert reply.events == []


@pytest.mark.parametrize("interval", [5, 19, "25", 25.0])
def test_a_request_interval_pushpin_would_raise_or_cannot_read_is_refused(grip_client, monkeypatch, interval):
    monkeypatch.setattr(Heartbeat, "request_interval", interval)
    with pytest.raises(ProtocolError, match="Keep-Alive-Interval must be a whole number of seconds >= 20"):
        grip_client.websocket("/heartbeat/")


# -- verbs --------------------------------------------------------------------------------------
def test_send_delayed_and_flush_delayed_are_control_messages(grip_client):
    reply = grip_client.websocket("/chat/", [text("later bye"), text("flush")])
    assert reply.controls == [
        {"type": "send-delayed", "message-type": "text", "content": "bye", "timeout": 3},
        {"type": "flush-delayed"},
    ]


def test_set_session_names_the_session_or_clears_it(grip_client):
    reply = grip_client.websocket("/chat/", [text("session s-1"), text("session")])
    assert reply.controls == [{"type": "session", "id": "s-1"}, {"type": "session"}]


def test_set_subscription_meta_sets_or_removes_one_entry(grip_client):
    reply = grip_client.websocket("/chat/", [text("meta name=Ann"), text("meta name=")])
    assert reply.controls == [
        {"type": "set-meta", "name": "name", "value": "Ann"},
        {"type": "set-meta", "name": "name"},
    ]


def test_ws_keep_alive_replaces_the_keep_alive_mid_connection(grip_client):
    reply = grip_client.websocket("/chat/", [text("ping-every 40")])
    assert reply.controls == [
        {"type": "keep-alive", "message-type": "ping", "content-bin": "aGI=", "timeout": 40}
    ]


def test_disconnect_drops_the_client_and_ends_the_reply(grip_client):
    reply = grip_client.websocket("/chat/", [text("bye"), text("all not handled")])
    assert reply.messages == ["going"]
    assert reply.events[-1] == E("DISCONNECT")


# -- publishing: hints and close reasons --------------------------------------------------------
def test_a_stream_hint_asks_the_proxy_to_fetch_the_next_link(grip_outbox):
    Feed.publish_hint("feed")
    assert messages_on("feed", "http-stream") == [{"action": "hint"}]


def test_a_long_poll_hint_asks_the_proxy_to_request_the_view_again(grip_outbox):
    Greeting.publish_hint("greeting")
    assert messages_on("greeting", "http-response") == [{"action": "hint"}]


def test_publish_close_sends_the_code_and_the_reason(grip_outbox):
    Chat.publish_close("room", code=4000, reason="room closed")
    assert messages_on("room", "ws-message") == [{"action": "close", "code": 4000, "reason": "room closed"}]


# -- Pushpin's subscription cap -----------------------------------------------------------------
def test_a_socket_subscribing_more_than_the_cap_is_told_so_in_the_log(grip_client, caplog):
    with caplog.at_level(logging.ERROR, logger="grip_views.protocol.websocket"):
        reply = grip_client.websocket("/crowded/?n=22")
    assert [c["channel"] for c in reply.controls] == [f"c{i}" for i in range(20)]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "'c20' not subscribed" in errors[0].getMessage()
    assert "GRIP_CONNECTION_SUBSCRIPTION_MAX" in errors[0].getMessage()


def test_the_cap_follows_the_setting(grip_client, settings, caplog):
    settings.GRIP_CONNECTION_SUBSCRIPTION_MAX = 30
    with caplog.at_level(logging.ERROR):
        reply = grip_client.websocket("/crowded/?n=25")
    assert len(reply.controls) == 25
    assert not caplog.records


def test_a_stream_holding_on_more_channels_than_the_cap_is_told_so_in_the_log(grip_client, caplog):
    with caplog.at_level(logging.ERROR, logger="grip_views.middleware"):
        response = grip_client.get_proxied("/crowded-stream/")
    assert response["Grip-Hold"] == "stream"
    (record,) = caplog.records
    assert "holds on 25 channels" in record.getMessage()
    assert "s20, s21, s22, s23, s24" in record.getMessage()


# -- Grip-Feature -------------------------------------------------------------------------------
PUSHPIN_136_FEATURES = (
    "status, session, link:next, filter:skip-self, filter:skip-users, filter:require-sub, "
    "filter:build-id, filter:var-subst"
)


def test_a_filter_the_proxy_lists_in_grip_feature_passes_quietly(grip_client, caplog):
    with caplog.at_level(logging.WARNING):
        grip_client.get_proxied("/feed/", {"user": "a"}, HTTP_GRIP_FEATURE=PUSHPIN_136_FEATURES)
        grip_client.websocket("/chat/", HTTP_GRIP_FEATURE=PUSHPIN_136_FEATURES)
    assert not caplog.records


def test_a_filter_the_proxy_does_not_list_in_grip_feature_is_warned_about(grip_client, caplog):
    with caplog.at_level(logging.WARNING):
        grip_client.get_proxied("/feed/", {"user": "a"}, HTTP_GRIP_FEATURE="status")
        grip_client.websocket("/chat/", HTTP_GRIP_FEATURE="status")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert all("filter:skip-self" in m and "unfiltered" in m for m in messages)
