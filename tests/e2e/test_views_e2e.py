"""Every feature of the views, through a real Pushpin with real clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
import websocket
from gripcontrol import HttpResponseFormat, HttpStreamFormat, WebSocketMessageFormat

from grip_views import PublishError, publish
from grip_views.protocol.signature import sign_hs256
from grip_views.pushpin import Pushpin
from tests import e2e_views
from tests.e2e.support import StreamReader


@pytest.fixture
def stream_reader() -> Iterator[list[StreamReader]]:
    readers: list[StreamReader] = []
    yield readers
    for r in readers:
        r.close()


def open_stream(live, path: str, readers: list[StreamReader]) -> StreamReader:
    reader = StreamReader(live.url + path)
    readers.append(reader)
    assert reader.status == 200
    return reader


def open_socket(live, path: str) -> websocket.WebSocket:
    ws = websocket.create_connection(live.ws_url + path, timeout=10)
    ws.send("sync")  # one round trip: the subscription is in place before any publish
    assert ws.recv() == "sync"
    return ws


# -- streams ---------------------------------------------------------------------
def test_stream_sends_initial_body_then_published_content_then_closes(grip_live, stream_reader):
    ch = grip_live.unique_channel()
    reader = open_stream(grip_live, f"/e2e/stream/{ch}/", stream_reader)
    assert reader.headers["Content-Type"].startswith("text/plain")
    assert reader.next() == b"[open]"
    e2e_views.Stream.publish(ch, "first\n")
    grip_live.publish(ch, HttpStreamFormat("second\n"))
    assert reader.next() == b"first"
    assert reader.next() == b"second"
    e2e_views.Stream.publish_close(ch)
    assert reader.next() is None  # the proxy ended the response


def test_server_sent_events_arrive_framed(grip_live, stream_reader):
    ch = grip_live.unique_channel()
    reader = open_stream(grip_live, f"/e2e/events/{ch}/", stream_reader)
    assert reader.headers["Content-Type"] == "text/event-stream"
    e2e_views.Events.publish_event(ch, "line one\nline two", event="update", event_id="7")
    got = [reader.next() for _ in range(5)]
    assert got == [b"event: update", b"id: 7", b"data: line one", b"data: line two", b""]


# -- long-polling ----------------------------------------------------------------
def test_long_poll_answers_at_once_when_there_is_something(grip_live):
    ch = grip_live.unique_channel()
    response = requests.get(f"{grip_live.url}/e2e/poll/{ch}/?now=1", timeout=10)
    assert response.text == "now\n"


def test_long_poll_is_woken_by_a_publish(grip_live):
    ch = grip_live.unique_channel()
    result: list[requests.Response] = []
    poller = threading.Thread(
        target=lambda: result.append(requests.get(f"{grip_live.url}/e2e/poll/{ch}/", timeout=20))
    )
    poller.start()
    grip_live.wait_subscribed(ch, mode="response")
    e2e_views.Poll.publish(ch, "news\n", headers={"X-Extra": "yes"})
    poller.join(15)
    assert result and result[0].text == "news\n"
    assert result[0].headers["X-Extra"] == "yes"


def test_long_poll_times_out_with_the_timeout_response(grip_live):
    ch = grip_live.unique_channel()
    started = time.monotonic()
    response = requests.get(f"{grip_live.url}/e2e/poll/{ch}/", timeout=30)
    assert response.text == "timeout\n"
    assert time.monotonic() - started >= 4  # held (Pushpin's 5 s minimum), not answered at once


# -- WebSockets ------------------------------------------------------------------
def test_websocket_echoes_text_and_binary(grip_live):
    ws = open_socket(grip_live, f"/e2e/ws/{grip_live.unique_channel()}/")
    ws.send("hello")
    assert ws.recv() == "hello"
    ws.send_binary(b"\x00\x01\xff")
    opcode, data = ws.recv_data()
    assert (opcode, data) == (websocket.ABNF.OPCODE_BINARY, b"\x00\x01\xff")
    ws.close()


def test_websocket_refused_on_open_fails_the_handshake_with_the_status(grip_live):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(f"{grip_live.ws_url}/e2e/ws/x/?refuse=1", timeout=10)
    assert info.value.status_code == 403


def test_websocket_is_subscribed_on_open_and_hears_broadcasts(grip_live):
    ch = grip_live.unique_channel()
    a = open_socket(grip_live, f"/e2e/ws/{ch}/")
    b = open_socket(grip_live, f"/e2e/ws/{ch}/")
    e2e_views.Socket.publish(ch, "to everyone")
    assert a.recv() == "to everyone"
    assert b.recv() == "to everyone"
    grip_live.publish(ch, WebSocketMessageFormat(b"\x01\x02", binary=True))
    assert a.recv() == b"\x01\x02"
    a.close()
    b.close()


def test_websocket_joins_a_channel_later(grip_live):
    ws = open_socket(grip_live, f"/e2e/ws/{grip_live.unique_channel()}/")
    other = grip_live.unique_channel()
    ws.send(f"join {other}")
    assert ws.recv() == "joined"
    e2e_views.Socket.publish(other, "on the other channel")
    assert ws.recv() == "on the other channel"
    ws.close()


def test_websocket_meta_persists_across_requests(grip_live):
    ws = open_socket(grip_live, f"/e2e/ws/{grip_live.unique_channel()}/")
    ws.send("nick?")
    assert ws.recv() == "(none)"
    ws.send("nick alice")
    assert ws.recv() == "ok"
    ws.send("nick?")
    assert ws.recv() == "alice"
    ws.close()


def test_websocket_close_code_reaches_the_client(grip_live):
    ws = open_socket(grip_live, f"/e2e/ws/{grip_live.unique_channel()}/")
    ws.send("close 4001")
    frame = ws.recv_frame()
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == 4001


def test_an_error_in_on_message_closes_the_socket_with_1011(grip_live):
    ws = open_socket(grip_live, f"/e2e/ws/{grip_live.unique_channel()}/")
    ws.send("boom")
    frame = ws.recv_frame()
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == 1011


def test_an_anonymous_client_is_refused_in_on_open_before_channels_for_runs(grip_live):
    response = requests.get(f"{grip_live.url}/e2e/member/", timeout=10)
    assert response.status_code == 401
    assert response.text == "log in first\n"


def test_websocket_publish_close_ends_every_socket_with_the_code(grip_live):
    ch = grip_live.unique_channel()
    ws = open_socket(grip_live, f"/e2e/ws/{ch}/")
    e2e_views.Socket.publish_close(ch, code=4002)
    frame = ws.recv_frame()
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == 4002


def test_websocket_ping_gets_a_pong(grip_live):
    ws = open_socket(grip_live, f"/e2e/ws/{grip_live.unique_channel()}/")
    ws.ping(b"are you there")
    frame = ws.recv_frame()
    assert frame.opcode == websocket.ABNF.OPCODE_PONG
    assert frame.data == b"are you there"
    ws.close()


def test_client_close_is_answered_cleanly(grip_live):
    ws = open_socket(grip_live, f"/e2e/ws/{grip_live.unique_channel()}/")
    ws.close(status=1000)  # websocket-client waits for the server's close frame
    assert not ws.connected


# -- settings ----------------------------------------------------------------------
def test_prefix_applies_to_holds_subscriptions_and_publishes(grip_live, settings, stream_reader):
    settings.GRIP_PREFIX = "pfx-"
    ch = grip_live.unique_channel()
    reader = open_stream(grip_live, f"/e2e/stream/{ch}/", stream_reader)
    assert reader.next() == b"[open]"
    ws = open_socket(grip_live, f"/e2e/ws/{ch}/")
    e2e_views.Stream.publish(ch, "via the view\n")
    e2e_views.Socket.publish(ch, "via the view")
    assert reader.next() == b"via the view"
    assert ws.recv() == "via the view"
    # The proxy knows the channel by its prefixed name only.
    settings.GRIP_PREFIX = ""
    publish(f"pfx-{ch}", [HttpStreamFormat("raw\n"), WebSocketMessageFormat("raw")])
    assert reader.next() == b"raw"
    assert ws.recv() == "raw"
    ws.close()


def test_requests_through_the_proxy_are_signed_and_verified(grip_live, settings, stream_reader):
    ch = grip_live.unique_channel()
    # With the wrong key configured, the proxy's signature does not verify:
    # no hold, the client just gets the first answer.
    settings.GRIP_PROXIES = [{**grip_live.pushpin.grip_proxy, "key": "not-the-key-" + "x" * 32}]
    response = requests.get(f"{grip_live.url}/e2e/stream/{ch}/", timeout=10)
    assert response.text == "[open]\n"
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(f"{grip_live.ws_url}/e2e/ws/{ch}/", timeout=10)
    assert info.value.status_code == 403
    settings.GRIP_PROXY_REQUIRED = True
    response = requests.get(f"{grip_live.url}/e2e/stream/{ch}/", timeout=10)
    assert response.status_code == 501


def test_forged_signature_sent_directly_is_not_treated_as_proxied(grip_live, settings):
    settings.GRIP_PROXY_REQUIRED = True
    forged = sign_hs256({"iss": "pushpin", "exp": int(time.time()) + 600}, "guessed-key")
    response = requests.get(
        f"{grip_live.backend_url}/e2e/stream/x/", headers={"Grip-Sig": forged}, timeout=10
    )
    assert response.status_code == 501
    assert "Grip-Hold" not in response.headers
    events = requests.post(
        f"{grip_live.backend_url}/e2e/ws/x/",
        data=b"OPEN\r\n",
        headers={
            "Content-Type": "application/websocket-events",
            "Connection-Id": "forged",
            "Grip-Sig": forged,
        },
        timeout=10,
    )
    assert events.status_code == 403


def test_publishing_to_a_stopped_proxy_raises_naming_proxy_and_channel(grip_live, settings):
    with Pushpin(backend="127.0.0.1:1") as down:
        address = down.publish_url
    settings.GRIP_PROXIES = [{"control_uri": address}]
    with pytest.raises(PublishError) as info:
        publish("lonely", HttpStreamFormat("x\n"))
    assert address in str(info.value) and "lonely" in str(info.value)


# -- scale-out -------------------------------------------------------------------
def test_one_publish_reaches_clients_of_two_proxies(grip_live, settings, stream_reader):
    second = Pushpin(
        backend=grip_live.pushpin.backend,
        sig_key=grip_live.pushpin.sig_key,
        sig_iss=grip_live.pushpin.sig_iss,
    ).start()
    try:
        settings.GRIP_PROXIES = [grip_live.pushpin.grip_proxy, second.grip_proxy]
        ch = grip_live.unique_channel()
        first_reader = open_stream(grip_live, f"/e2e/stream/{ch}/", stream_reader)
        second_reader = StreamReader(f"{second.url}/e2e/stream/{ch}/")
        stream_reader.append(second_reader)
        assert first_reader.next() == b"[open]"
        assert second_reader.next() == b"[open]"
        e2e_views.Stream.publish(ch, "everywhere\n")
        assert first_reader.next() == b"everywhere"
        assert second_reader.next() == b"everywhere"
        grip_live.publish(ch, HttpResponseFormat(body="unused by streams"))  # both accept it
    finally:
        second.stop()
