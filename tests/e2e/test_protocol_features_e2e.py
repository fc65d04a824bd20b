"""GRIP and WebSocket-over-HTTP features through a real Pushpin 1.36: subscription
meta and every filter, "everyone but me", keep-alives both ways, delayed
messages, sessions, disconnects, close reasons, hints, sequencing and the
subscription cap. What each test shows is what README's "Protocol coverage"
table claims; tests named ``..._on_pushpin_1_36`` pin a gap of that version.

The views are in this module (its own URLconf); every channel comes from the
URL, so each test has channels of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import websocket
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from gripcontrol import HttpStreamFormat, WebSocketMessageFormat

from grip_views import Channel, GripLongPollView, GripStreamView, WebSocketView, publish
from tests.e2e.support import StreamReader

pytestmark = [pytest.mark.urls(__name__), pytest.mark.pushpin]


# -- views ---------------------------------------------------------------------------------------
class Chat(WebSocketView):
    """Everyone but me: ``others <text>`` reaches all sockets on the channel but this one."""

    skip_self = True

    def channels_for(self):
        return [self.kwargs["channel"]]

    def get_subscription_meta(self):
        user = self.request.GET.get("user")
        return {"user": user} if user else {}

    def on_message(self, message):
        verb, _, arg = message.partition(" ")
        if verb == "others":
            self.broadcast(arg, include_self=False)
        elif verb == "all":
            self.broadcast(arg)
        else:
            self.send(message)


class Socket(WebSocketView):
    """A socket driven by its messages: one verb each, then an echo of the verb."""

    def channels_for(self):
        return [
            Channel(c, filters=tuple(f for f in self.request.GET.getlist("filter")))
            for c in self.kwargs["channels"].split(",")
        ]

    def get_subscription_meta(self):
        return {k[5:]: v for k, v in self.request.GET.items() if k.startswith("meta_")}

    def on_message(self, message):
        verb, _, arg = message.partition(" ")
        if verb == "later":
            self.send_delayed(arg, 2)
        elif verb == "flush":
            self.flush_delayed()
        elif verb == "session":
            self.set_session(arg)
        elif verb == "disconnect":
            self.disconnect()
            return
        self.send(message)


class Pinged(WebSocketView):
    keep_alive = b"hb"
    keep_alive_type = "ping"
    keep_alive_interval = 1

    def on_message(self, message):
        self.send(message)


#: Connection ids of the requests with no events that Heartbeat got, and when.
beats: list[tuple[str, float]] = []


class Heartbeat(WebSocketView):
    request_interval = 20  # Pushpin's minimum

    def post(self, request, *args, **kwargs):
        if self.grip.websocket is not None and not self.grip.websocket.events:
            beats.append((self.grip.websocket.connection_id, time.monotonic()))
        return super().post(request, *args, **kwargs)

    def on_message(self, message):
        self.send(message)


class Crowded(WebSocketView):
    def channels_for(self):
        return [f"{self.kwargs['channel']}-{i}" for i in range(22)]

    def on_message(self, message):
        self.send(message)


class Feed(GripStreamView):
    """A stream with the channels, filters, subscription meta and next link of its URL."""

    initial_body = "[open]\n"

    def channels_for(self):
        prev_id = self.request.GET.get("prev_id")
        filters = tuple(self.request.GET.getlist("filter"))
        return [Channel(c, prev_id=prev_id, filters=filters) for c in self.kwargs["channels"].split(",")]

    def get_subscription_meta(self):
        return {k[5:]: v for k, v in self.request.GET.items() if k.startswith("meta_")}

    def get_next_link(self):
        return f"/next/{self.kwargs['channels']}/" if self.request.GET.get("link") else None


def next_link(request: HttpRequest, channels: str) -> HttpResponse:
    """What a stream's hint (or a recovery) appends: the news of the moment."""
    return HttpResponse(news.get(channels, ""), content_type="text/plain")


#: What each long-poll and next link answers now, by channel.
news: dict[str, str] = {}


class Poll(GripLongPollView):
    timeout = 20

    def channels_for(self):
        return [self.kwargs["channel"]]

    def on_open(self):
        return news.get(self.kwargs["channel"])


def no_hold(request: HttpRequest, channel: str) -> HttpResponse:
    """Grip-Channel without Grip-Hold: GRIP gives it no meaning (see README)."""
    response = HttpResponse("not held\n", content_type="text/plain")
    response["Grip-Channel"] = channel
    return response


#: The bodies a raw socket got, by channel.
raw_bodies: dict[str, list[bytes]] = {}


def raw_socket(request: HttpRequest, channel: str) -> HttpResponse:
    """A WebSocket answered by hand: a Grip-Channel header on the handshake, and
    Content-Bytes-Accepted: 0 on every answer (neither means anything to 1.36)."""
    ctx = request.grip.websocket  # type: ignore[attr-defined]
    raw_bodies.setdefault(channel, []).append(request.body)
    if ctx.opening:
        ctx.accept()
    for event in ctx.events:
        if event.type == "TEXT":
            ctx.send(event.content.decode())
    response = HttpResponse()
    response["Content-Bytes-Accepted"] = "0"
    if ctx.opening:
        response["Grip-Channel"] = channel
    return response


def features(request: HttpRequest) -> JsonResponse:
    return JsonResponse(sorted(request.grip.features), safe=False)  # type: ignore[attr-defined]


urlpatterns = [
    path("chat/<str:channel>/", Chat.as_view()),
    path("socket/<str:channels>/", Socket.as_view()),
    path("pinged/", Pinged.as_view()),
    path("heartbeat/", Heartbeat.as_view()),
    path("crowded/<str:channel>/", Crowded.as_view()),
    path("feed/<str:channels>/", Feed.as_view()),
    path("next/<str:channels>/", next_link),
    path("poll/<str:channel>/", Poll.as_view()),
    path("no-hold/<str:channel>/", no_hold),
    path("features/", features),
    path("raw/<str:channel>/", raw_socket),
]


# -- clients ---------------------------------------------------------------------------------------
@pytest.fixture
def sockets() -> Iterator[list[websocket.WebSocket]]:
    made: list[websocket.WebSocket] = []
    yield made
    for ws in made:
        ws.close()


@pytest.fixture
def readers() -> Iterator[list[StreamReader]]:
    made: list[StreamReader] = []
    yield made
    for reader in made:
        reader.close()


def connect(live, path: str, sockets: list) -> websocket.WebSocket:
    ws = websocket.create_connection(live.ws_url + path, timeout=10)
    sockets.append(ws)
    ws.send("sync")  # one round trip: the subscriptions are in place before any publish
    assert ws.recv() == "sync"
    return ws


def stream(live, path: str, readers: list) -> StreamReader:
    reader = StreamReader(live.url + path)
    readers.append(reader)
    assert reader.status == 200
    assert reader.next() == b"[open]"
    time.sleep(0.3)  # the subscription is made after the first body
    return reader


def nothing_more(ws: websocket.WebSocket, wait: float = 1.0) -> bool:
    """True when nothing arrives within ``wait`` seconds but the echo of a last round trip."""
    time.sleep(wait)
    ws.send("sync")
    return ws.recv() == "sync"


def silent(reader: StreamReader, wait: float = 1.0) -> bool:
    try:
        reader.next(timeout=wait)
    except Exception:  # queue.Empty: nothing came
        return True
    return False


# -- everyone but me (issue 17.1) --------------------------------------------------------------------
def test_broadcast_without_self_reaches_the_others_but_not_the_sender(grip_live, sockets):
    ch = grip_live.unique_channel()
    sender, other, third = (connect(grip_live, f"/chat/{ch}/", sockets) for _ in range(3))
    sender.send("others hello")
    assert other.recv() == "hello"
    assert third.recv() == "hello"
    assert nothing_more(sender)  # the sender's own message never came back
    sender.send("all to everyone")
    assert [ws.recv() for ws in (sender, other, third)] == ["to everyone"] * 3


def test_without_self_skips_every_tab_of_a_user_the_subscription_meta_names(grip_live, sockets):
    ch = grip_live.unique_channel()
    ann_1, ann_2 = (
        connect(grip_live, f"/chat/{ch}/?user=ann", sockets),
        connect(grip_live, f"/chat/{ch}/?user=ann", sockets),
    )
    bob = connect(grip_live, f"/chat/{ch}/?user=bob", sockets)
    ann_1.send("others from ann")
    assert bob.recv() == "from ann"
    assert nothing_more(ann_1) and nothing_more(ann_2, wait=0)


def test_a_stream_whose_grip_set_meta_names_the_sender_skips_its_message(grip_live, readers):
    ch = grip_live.unique_channel()
    alice = stream(grip_live, f"/feed/{ch}/?filter=skip-self&meta_user=alice", readers)
    bob = stream(grip_live, f"/feed/{ch}/?filter=skip-self&meta_user=bob", readers)
    Feed.publish(ch, "from alice\n", sender="alice")
    assert bob.next() == b"from alice"
    assert silent(alice)


# -- the other filters -----------------------------------------------------------------------------
def test_skip_users_skips_the_users_a_publish_names_on_streams_and_sockets(grip_live, readers, sockets):
    ch = grip_live.unique_channel()
    ann, bob, cyd = (
        stream(grip_live, f"/feed/{ch}/?filter=skip-users&meta_user={u}", readers)
        for u in ("ann", "bob", "cyd")
    )
    ws_ann = connect(grip_live, f"/socket/{ch}/?filter=skip-users&meta_user=ann", sockets)
    ws_cyd = connect(grip_live, f"/socket/{ch}/?filter=skip-users&meta_user=cyd", sockets)
    publish(
        ch,
        [stream_format("not for ann or bob\n"), ws_format("not for ann or bob")],
        skip_users=["ann", "bob"],
    )
    assert cyd.next() == b"not for ann or bob"
    assert ws_cyd.recv() == "not for ann or bob"
    assert silent(ann) and silent(bob, wait=0)
    assert nothing_more(ws_ann, wait=0)


def test_require_sub_reaches_only_streams_also_on_the_required_channel(grip_live, readers):
    news_ch, vip = grip_live.unique_channel(), grip_live.unique_channel()
    member = stream(grip_live, f"/feed/{news_ch},{vip}/?filter=require-sub", readers)
    guest = stream(grip_live, f"/feed/{news_ch}/?filter=require-sub", readers)
    Feed.publish(news_ch, "members only\n", require_sub=vip)
    assert member.next() == b"members only"
    assert silent(guest)


def test_require_sub_on_a_websocket_drops_the_item_even_for_a_subscriber_on_pushpin_1_36(grip_live, sockets):
    # Pushpin 1.36 gives WebSocket sessions no list of their channels to check, so
    # require-sub drops every item carrying require_sub: use it on HTTP holds only.
    news_ch, vip = grip_live.unique_channel(), grip_live.unique_channel()
    member = connect(grip_live, f"/socket/{news_ch},{vip}/?filter=require-sub", sockets)
    publish(news_ch, ws_format("members only"), require_sub=vip)
    assert nothing_more(member)
    publish(news_ch, ws_format("plain"))  # the subscription itself works
    assert member.recv() == "plain"


def test_var_subst_fills_in_the_subscription_meta_on_streams_and_sockets(grip_live, readers, sockets):
    ch = grip_live.unique_channel()
    reader = stream(grip_live, f"/feed/{ch}/?filter=var-subst&meta_name=Ann+Smith", readers)
    ws = connect(grip_live, f"/socket/{ch}/?filter=var-subst&meta_name=Bob", sockets)
    publish(ch, [stream_format("hello %(name)s, 100%%\n"), ws_format("hello %(name)s")])
    assert reader.next() == b"hello Ann Smith, 100%"
    assert ws.recv() == "hello Bob"


def test_build_id_writes_the_streams_id_into_the_content(grip_live, readers):
    ch = grip_live.unique_channel()
    reader = stream(
        grip_live, f"/feed/{ch}/?filter=build-id&prev_id=0&link=1&meta_id_format=%25({ch})s", readers
    )
    Feed.publish(ch, "id: %I\n", id="1", prev_id="0")
    Feed.publish(ch, "id: %I\n", id="2", prev_id="1")
    assert [reader.next(), reader.next()] == [b"id: 1", b"id: 2"]


def test_pushpin_1_36_lists_its_filters_in_grip_feature(grip_live):
    listed = requests.get(f"{grip_live.url}/features/", timeout=10).json()
    assert {
        f"filter:{f}" for f in ("skip-self", "skip-users", "require-sub", "build-id", "var-subst")
    } <= set(listed)
    assert "filter:http-check" not in listed  # newer Pushpin's: the views warn when a channel uses it


# -- WebSocket-over-HTTP: the proxy keeps, sends, drops ---------------------------------------------
def test_send_delayed_arrives_after_its_delay_and_flush_delayed_sends_it_at_once(grip_live, sockets):
    ws = connect(grip_live, f"/socket/{grip_live.unique_channel()}/", sockets)
    ws.send("later in two seconds")
    assert ws.recv() == "later in two seconds"  # the echo of the verb
    started = time.monotonic()
    assert ws.recv() == "in two seconds"
    assert 1.5 < time.monotonic() - started < 4
    ws.send("later flushed")
    assert ws.recv() == "later flushed"
    started = time.monotonic()
    ws.send("flush")
    assert {ws.recv(), ws.recv()} == {"flushed", "flush"}
    assert time.monotonic() - started < 1


def test_a_session_is_accepted_and_the_socket_goes_on(grip_live, sockets):
    ws = connect(grip_live, f"/socket/{grip_live.unique_channel()}/", sockets)
    ws.send("session s-42")
    assert ws.recv() == "session s-42"
    ws.send("still here")
    assert ws.recv() == "still here"


def test_disconnect_drops_the_client_without_a_close_frame(grip_live, sockets):
    ws = connect(grip_live, f"/socket/{grip_live.unique_channel()}/", sockets)
    ws.send("disconnect")
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.recv()  # a close frame would be returned as ""; the connection just ends


def test_a_ping_keep_alive_set_on_the_view_reaches_the_client_as_pings(grip_live, sockets):
    ws = connect(grip_live, "/pinged/", sockets)
    opcode, data = ws.recv_data(control_frame=True)
    assert (opcode, data) == (websocket.ABNF.OPCODE_PING, b"hb")


def test_request_interval_has_the_proxy_request_the_view_when_the_socket_is_idle(grip_live, sockets):
    ws = connect(grip_live, "/heartbeat/", sockets)
    opened = time.monotonic()
    deadline = opened + 30
    while time.monotonic() < deadline and not beats:
        time.sleep(0.25)
    assert beats, "no request with no events within 30 s"
    assert 18 < beats[0][1] - opened < 25  # Pushpin's 20 s, a second early at most
    ws.send("alive")
    assert ws.recv() == "alive"


def test_a_socket_asking_for_more_than_the_cap_is_logged_and_pushpin_drops_the_rest(
    grip_live, sockets, caplog
):
    ch = grip_live.unique_channel()
    with caplog.at_level(logging.ERROR, logger="grip_views.protocol.websocket"):
        ws = connect(grip_live, f"/crowded/{ch}/", sockets)
    errors = [r.getMessage() for r in caplog.records]
    assert len(errors) == 2 and f"'{ch}-20' not subscribed" in errors[0]
    publish(f"{ch}-19", ws_format("the 20th"))
    assert ws.recv() == "the 20th"
    publish(f"{ch}-21", ws_format("the 22nd"))
    assert nothing_more(ws)


# -- publish actions, sequencing --------------------------------------------------------------------
def test_publish_close_reaches_the_client_with_its_code_and_reason(grip_live, sockets):
    ch = grip_live.unique_channel()
    ws = connect(grip_live, f"/socket/{ch}/", sockets)
    WebSocketView.publish_close(ch, code=4005, reason="room closed")
    frame = ws.recv_frame()
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert (int.from_bytes(frame.data[:2], "big"), frame.data[2:]) == (4005, b"room closed")


def test_a_long_poll_hint_has_the_proxy_ask_the_view_again(grip_live):
    ch = grip_live.unique_channel()
    result: list[requests.Response] = []
    poller = threading.Thread(
        target=lambda: result.append(requests.get(f"{grip_live.url}/poll/{ch}/", timeout=30))
    )
    poller.start()
    time.sleep(2)  # held, and past the re-request of a channel's first subscriber
    news[ch] = "read fresh from the view\n"
    Poll.publish_hint(ch)
    poller.join(10)
    assert result and result[0].text == "read fresh from the view\n"


def test_a_stream_hint_appends_what_the_next_link_answers(grip_live, readers):
    ch = grip_live.unique_channel()
    reader = stream(grip_live, f"/feed/{ch}/?link=1", readers)
    news[ch] = "from the next link\n"
    Feed.publish_hint(ch)
    assert reader.next() == b"from the next link"


def test_an_item_published_out_of_order_is_held_until_the_one_before_it(grip_live, readers):
    ch = grip_live.unique_channel()
    reader = stream(grip_live, f"/feed/{ch}/", readers)
    Feed.publish(ch, "one\n", id="1")
    assert reader.next() == b"one"
    Feed.publish(ch, "three\n", id="3", prev_id="2")
    assert silent(reader)  # Pushpin waits (up to 5 s) for the item whose id is 2
    Feed.publish(ch, "two\n", id="2", prev_id="1")
    assert [reader.next(), reader.next()] == [b"two", b"three"]


def test_no_seq_delivers_out_of_order_at_once(grip_live, readers):
    ch = grip_live.unique_channel()
    reader = stream(grip_live, f"/feed/{ch}/", readers)
    Feed.publish(ch, "one\n", id="1")
    assert reader.next() == b"one"
    Feed.publish(ch, "three\n", id="3", prev_id="2", no_seq=True)
    assert reader.next(timeout=1) == b"three"


def test_grip_channel_without_grip_hold_holds_nothing(grip_live):
    started = time.monotonic()
    response = requests.get(f"{grip_live.url}/no-hold/{grip_live.unique_channel()}/", timeout=10)
    assert response.text == "not held\n"
    assert time.monotonic() - started < 2  # answered and ended: no subscription outlives it


# -- formats -----------------------------------------------------------------------------------------
def stream_format(content: str):
    return HttpStreamFormat(content)


def ws_format(content: str):
    return WebSocketMessageFormat(content)


def test_content_bytes_accepted_and_a_grip_channel_on_the_handshake_are_ignored_on_pushpin_1_36(
    grip_live, sockets
):
    ch = grip_live.unique_channel()
    ws = connect(grip_live, f"/raw/{ch}/", sockets)  # every answer says it accepted 0 bytes
    time.sleep(1)
    assert raw_bodies[ch] == [b"OPEN\r\n", b"TEXT 4\r\nsync\r\n"]  # nothing was sent again
    publish(ch, ws_format("to the header's channel"))
    assert nothing_more(ws)  # the Grip-Channel header subscribed nothing
