"""The pytest plugin's live helpers through a real Pushpin: waiting until Pushpin holds a
client (read from its own stats), real clients logged in with a session cookie, and
publishes that reach the proxy, not the in-memory outbox.

The views are in this module (its own URLconf).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests
import websocket
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from gripcontrol import HttpResponseFormat, HttpStreamFormat, WebSocketMessageFormat

from grip_views import EventStreamView, GripLongPollView, GripStreamView, WebSocketView, publish
from grip_views.pushpin import Pushpin
from grip_views.pushpin.process import TEST_HOST
from grip_views.testing import outbox
from grip_views.testing.pytest_plugin import SIG_ISS, SIG_KEY, _close_stats, _stats_of, require_pushpin
from tests.e2e.support import StreamReader

pytestmark = pytest.mark.urls(__name__)


# -- views -------------------------------------------------------------------------------
class Stream(GripStreamView):
    initial_body = "[open]\n"

    def channels_for(self):
        return [self.kwargs["channel"]]


class Poll(GripLongPollView):
    timeout = 20

    def channels_for(self):
        return [self.kwargs["channel"]]


class Socket(WebSocketView):
    def channels_for(self):
        return [self.kwargs["channel"]]

    def on_message(self, message):
        if message.startswith("join "):
            self.subscribe(message[5:])  # answered with nothing: the test cannot sync on a reply
        else:
            self.send(message)


def username(request) -> str:
    return request.user.get_username() if request.user.is_authenticated else "(anonymous)"


class WhoAmISocket(WebSocketView):
    """Says who ``self.request.user`` is on open and on every message; subscribed
    to the user's own channel."""

    def on_open(self):
        self.send(f"open: {username(self.request)}")

    def on_message(self, message):
        self.send(f"{message}: {username(self.request)}")

    def channels_for(self):
        return [f"user-{username(self.request)}"]


class MemberEvents(EventStreamView):
    """SSE for logged-in users only, on the user's own channel."""

    def on_open(self):
        if not self.request.user.is_authenticated:
            self.reject("log in first", status=401)
        return f"event: hello\ndata: {username(self.request)}\n\n"

    def channels_for(self):
        return [f"member-{username(self.request)}"]


@csrf_exempt
def publish_here(request, channel: str) -> HttpResponse:
    publish(channel, HttpStreamFormat("from the app\n"))
    return HttpResponse("published\n")


urlpatterns = [
    path("stream/<str:channel>/", Stream.as_view()),
    path("poll/<str:channel>/", Poll.as_view()),
    path("ws/<str:channel>/", Socket.as_view()),
    path("whoami/", WhoAmISocket.as_view()),
    path("member-events/", MemberEvents.as_view()),
    path("publish/<str:channel>/", publish_here),
]


@pytest.fixture
def readers() -> Iterator[list[StreamReader]]:
    opened: list[StreamReader] = []
    yield opened
    for reader in opened:
        reader.close()


def raw_stream(live, channel: str) -> socket.socket:
    """A stream request sent without waiting for any answer."""
    sock = socket.create_connection(("127.0.0.1", live.pushpin.http_port), timeout=10)
    sock.sendall(f"GET /stream/{channel}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# -- wait_subscribed -------------------------------------------------------------------------
def test_a_long_poll_is_answered_by_a_publish_made_once_pushpin_holds_it(grip_live):
    def poll(channel: str, into: list[requests.Response]) -> None:
        into.append(requests.get(f"{grip_live.url}/poll/{channel}/", timeout=30))

    for _ in range(3):
        ch = grip_live.unique_channel()
        answers: list[requests.Response] = []
        poller = threading.Thread(target=poll, args=(ch, answers))
        poller.start()
        assert grip_live.wait_subscribed(ch, mode="response") == 1
        grip_live.publish(ch, HttpResponseFormat(body="news\n"))
        poller.join(15)
        assert answers and answers[0].text == "news\n"


def test_a_stream_request_not_yet_answered_gets_a_publish_made_once_it_is_held(grip_live):
    ch = grip_live.unique_channel()
    sock = raw_stream(grip_live, ch)
    try:
        grip_live.wait_subscribed(ch, mode="stream")
        grip_live.publish(ch, HttpStreamFormat("right after\n"))
        data = read_until(sock, b"right after\n")  # chunked: the first body, then the publish
        assert data.startswith(b"HTTP/1.1 200 ") and data.index(b"[open]") < data.index(b"right after")
    finally:
        sock.close()


def test_wait_subscribed_counts_the_clients_held(grip_live, readers):
    ch = grip_live.unique_channel()
    for _ in range(2):
        readers.append(StreamReader(f"{grip_live.url}/stream/{ch}/"))
    assert grip_live.wait_subscribed(ch, subscribers=2, mode="stream") == 2


def test_a_websocket_subscribed_in_on_message_hears_a_publish_made_once_pushpin_has_it(grip_live):
    ws = websocket.create_connection(f"{grip_live.ws_url}/ws/{grip_live.unique_channel()}/", timeout=10)
    other = grip_live.unique_channel()
    ws.send(f"join {other}")
    grip_live.wait_subscribed(other, mode="ws")
    grip_live.publish(other, WebSocketMessageFormat("on the other channel"))
    assert ws.recv() == "on the other channel"
    ws.close()


def test_wait_unsubscribed_returns_once_the_client_left(grip_live):
    ch = grip_live.unique_channel()
    sock = raw_stream(grip_live, ch)
    grip_live.wait_subscribed(ch)
    sock.close()
    grip_live.wait_unsubscribed(ch, mode="stream")


def test_wait_subscribed_takes_your_channel_name_or_the_prefixed_one(grip_live, settings):
    settings.GRIP_PREFIX = "pfx-"
    ch = grip_live.unique_channel()
    sock = raw_stream(grip_live, ch)
    try:
        assert grip_live.wait_subscribed(ch) == 1
        assert grip_live.wait_subscribed(f"pfx-{ch}") == 1
        assert grip_live.stats is not None
        assert grip_live.stats.subscribers(ch) == 0  # the proxy knows the prefixed name only
    finally:
        sock.close()


def test_wait_subscribed_times_out_naming_the_channel_and_what_pushpin_holds(grip_live):
    with pytest.raises(TimeoutError, match=r"0 subscriber\(s\) on 'nobody-[0-9a-f]+' after 0.2 s"):
        grip_live.wait_subscribed(grip_live.unique_channel("nobody"), timeout=0.2)


@pytest.mark.pushpin
def test_the_stats_reader_follows_a_restarted_pushpin():
    require_pushpin()
    pushpin = Pushpin(sig_key=SIG_KEY, sig_iss=SIG_ISS).start()  # no backend: the test handler suffices
    try:
        first, error = _stats_of(pushpin)
        assert error is None and first is not None and first.running
        assert _stats_of(pushpin)[0] is first  # same process: same reader
        pushpin.restart()
        second, _ = _stats_of(pushpin)
        assert second is not first and not first.running
        assert second is not None and second.running
        # Pushpin's own test handler holds GET /stream on channel "test".
        with socket.create_connection(("127.0.0.1", pushpin.http_port), timeout=10) as sock:
            sock.sendall(f"GET /stream HTTP/1.1\r\nHost: {TEST_HOST}\r\n\r\n".encode())
            assert read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 200 ")
            assert second.wait_subscribed("test", mode="stream") == 1
    finally:
        _close_stats(pushpin)
        pushpin.stop()


# -- publishing goes to the proxy, not to the in-memory outbox ---------------------------------------
def test_with_grip_live_the_app_publishes_to_pushpin(grip_live, readers):
    ch = grip_live.unique_channel()
    reader = StreamReader(f"{grip_live.url}/stream/{ch}/")
    readers.append(reader)
    assert reader.next() == b"[open]"
    assert requests.post(f"{grip_live.url}/publish/{ch}/", timeout=10).text == "published\n"
    assert reader.next() == b"from the app"
    assert outbox == []


# -- logged-in real clients --------------------------------------------------------------------
@pytest.fixture
def alice() -> User:
    return User.objects.create_user(username="alice")  # no password: none to hash, none needed


def test_a_logged_in_websocket_is_request_user_in_every_hook(grip_live, alice):
    ws = websocket.create_connection(
        f"{grip_live.ws_url}/whoami/", header=grip_live.login_headers(alice), timeout=10
    )
    assert ws.recv() == "open: alice"
    ws.send("message")
    assert ws.recv() == "message: alice"  # later requests carry the cookie too
    grip_live.wait_subscribed("user-alice", mode="ws")
    WhoAmISocket.publish("user-alice", "for alice only")
    assert ws.recv() == "for alice only"
    ws.close()


def test_a_websocket_without_the_cookie_is_anonymous(grip_live, alice):
    ws = websocket.create_connection(f"{grip_live.ws_url}/whoami/", timeout=10)
    assert ws.recv() == "open: (anonymous)"
    ws.close()


def test_a_logged_in_sse_client_is_request_user_and_gets_its_own_channel(grip_live, alice, readers):
    reader = StreamReader(f"{grip_live.url}/member-events/", headers=grip_live.login_headers(alice))
    readers.append(reader)
    assert reader.status == 200
    assert [reader.next(), reader.next(), reader.next()] == [b"event: hello", b"data: alice", b""]
    grip_live.wait_subscribed("member-alice", mode="stream")
    MemberEvents.publish_event("member-alice", "for alice only")
    assert reader.next() == b"data: for alice only"


def test_an_sse_client_without_the_cookie_is_refused(grip_live, alice):
    response = requests.get(f"{grip_live.url}/member-events/", timeout=10)
    assert (response.status_code, response.text) == (401, "log in first\n")
