"""The test helpers users get (grip_views.testing): GripClient, grip_sig, the outbox, the
in-memory default of the pytest plugin, and reading Pushpin's stats (over a real ZeroMQ socket)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import include, path
from gripcontrol import HttpStreamFormat, WebSocketMessageFormat

import grip_views
from grip_views import WebSocketView
from grip_views.conf import grip_settings
from grip_views.exceptions import InvalidChannel
from grip_views.protocol.instructions import Channel
from grip_views.protocol.websocket import CONTENT_TYPE, WebSocketEvent, close_payload, encode_events
from grip_views.pushpin import Pushpin
from grip_views.testing import (
    GripClient,
    InMemoryPublisher,
    PushpinStats,
    PushpinStatsError,
    WebSocketReply,
    grip_sig,
    messages_on,
    outbox,
)
from grip_views.testing import stats as stats_module
from grip_views.testing.pytest_plugin import GripLive

pytest_plugins = ["pytester"]

KEY = "a-test-key-that-is-at-least-32-bytes-long"


# -- grip_sig ------------------------------------------------------------------------------------------
def test_grip_sig_is_signed_as_the_configured_proxy_would_sign():
    claims = grip_settings.verifier.verify(grip_sig())
    assert claims["iss"] == "pushpin"


def test_grip_sig_with_a_past_ttl_does_not_verify():
    assert not grip_settings.verifier.is_valid(grip_sig(ttl=-10))


def test_grip_sig_with_an_explicit_key_and_issuer():
    other = "another-key-that-is-at-least-32-bytes"
    with override_settings(GRIP_PROXIES=[{"verify_key": other, "verify_iss": "fanout"}]):
        assert grip_settings.verifier.is_valid(grip_sig(key=other, iss="fanout"))
        assert not grip_settings.verifier.is_valid(grip_sig(key=KEY, iss="fanout"))


def test_grip_sig_without_a_configured_key_says_to_pass_one():
    with override_settings(GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:1"}]):
        with pytest.raises(ValueError, match="key="):
            grip_sig()


# -- GripClient -----------------------------------------------------------------------------------------
def test_get_proxied_sends_a_request_the_middleware_trusts(grip_client):
    assert grip_client.get_proxied("/grip-info/").json()["signed"] is True


def test_get_proxied_passes_query_and_extra_headers(grip_client):
    response = grip_client.get_proxied("/cursor/", {"x": "1"}, HTTP_GRIP_LAST="cursor; last-id=1")
    assert response.json()["behind"] == "1"


def test_proxied_headers_carry_grip_sig_and_extras():
    headers = GripClient().proxied_headers(HTTP_X_A="b")
    assert grip_settings.verifier.is_valid(headers["HTTP_GRIP_SIG"])
    assert headers["HTTP_X_A"] == "b"


def test_websocket_opens_by_default_and_decodes_the_reply(grip_client):
    reply = grip_client.websocket("/ws/echo/")
    assert isinstance(reply, WebSocketReply)
    assert reply.accepted
    assert reply.status_code == 200
    assert reply["Content-Type"] == CONTENT_TYPE
    assert reply.has_header("Sec-WebSocket-Extensions")


def test_websocket_takes_a_raw_body_meta_and_a_connection_id(grip_client):
    body = encode_events([("TEXT", b"whoami")])
    reply = grip_client.websocket("/ws/echo/", body, meta={"user": "carol"}, connection_id="c-9")
    assert reply.messages == ["carol"]


def test_unsigned_websocket_is_refused(grip_client):
    assert grip_client.websocket("/ws/echo/", signed=False).status_code == 403


def test_reply_splits_messages_controls_and_close_code(grip_client):
    reply = grip_client.websocket(
        "/ws/echo/", [("OPEN", None), ("TEXT", b"t"), ("BINARY", b"\x01"), ("TEXT", b"bye")]
    )
    assert reply.messages == ["t", b"\x01"]
    assert reply.controls == [{"type": "subscribe", "channel": "chat"}]
    assert reply.close_code == 4001


def test_reply_without_close_has_no_close_code(grip_client):
    assert grip_client.websocket("/ws/echo/").close_code is None


def test_refused_reply_has_no_events():
    reply = WebSocketReply(HttpResponse(b"OPEN\r\n", status=403))
    assert reply.events == []
    assert not reply.accepted


def test_reply_reads_unprefixed_events_as_neither_messages_nor_controls():
    body = encode_events([("TEXT", b"plain"), ("CLOSE", close_payload(1000))])
    reply = WebSocketReply(HttpResponse(body, content_type=CONTENT_TYPE))
    assert (reply.messages, reply.controls, reply.close_code) == ([], [], 1000)


# -- the outbox -----------------------------------------------------------------------------------------
def test_outbox_collects_every_publish_in_order():
    grip_views.publish("a", HttpStreamFormat("1"))
    grip_views.publish("b", HttpStreamFormat("2"))
    assert [i["channel"] for i in outbox] == ["a", "b"]


def test_outbox_starts_empty_in_every_test():
    assert outbox == []


def test_in_memory_publisher_copies_items():
    item = {"channel": "a", "formats": {"http-stream": {"content": "x"}}}
    InMemoryPublisher().publish_items([item])
    item["channel"] = "changed"
    assert messages_on("a") == [{"channel": "a", "formats": {"http-stream": {"content": "x"}}}]


def test_messages_on_filters_one_format():
    grip_views.publish("f", [HttpStreamFormat("s\n"), WebSocketMessageFormat("w")])
    assert messages_on("f", "http-stream") == [{"content": "s\n"}]
    assert messages_on("f", "ws-message") == [{"content": "w"}]
    assert messages_on("f", "http-response") == []


@override_settings(GRIP_PREFIX="app.")
def test_messages_on_takes_your_channel_name_or_the_prefixed_one_the_outbox_shows():
    grip_views.publish("news", HttpStreamFormat("x\n"))
    assert [i["channel"] for i in outbox] == ["app.news"]
    assert messages_on("news") == messages_on("app.news") == outbox


@override_settings(GRIP_PREFIX="app.")
def test_messages_on_a_name_starting_with_the_prefix_finds_it_published_either_way():
    grip_views.publish("app.x", HttpStreamFormat("1\n"))  # reaches the proxy as "app.app.x"
    grip_views.publish("x", HttpStreamFormat("2\n"))  # reaches it as "app.x"
    assert messages_on("app.x", "http-stream") == [{"content": "1\n"}, {"content": "2\n"}]
    assert messages_on("x", "http-stream") == [{"content": "2\n"}]


def test_messages_on_takes_a_channel_object_and_refuses_what_is_not_a_channel():
    grip_views.publish("c", HttpStreamFormat("x\n"))
    assert len(messages_on(Channel("c", prev_id="1"))) == 1
    with pytest.raises(InvalidChannel):
        messages_on(42)  # type: ignore[arg-type]


# -- WebSocket meta kept per connection, like the proxy does ---------------------------------------------
class MetaSocket(WebSocketView):
    """``set k v`` / ``del k`` / ``get k`` on the connection's meta."""

    def on_message(self, message):
        verb, _, rest = message.partition(" ")
        key, _, value = rest.partition(" ")
        if verb == "set":
            self.meta[key] = value
        elif verb == "del":
            del self.meta[key]
        self.send(self.meta.get(key, "-"))


urlpatterns = [path("meta/", MetaSocket.as_view()), path("", include("tests.urls"))]
meta_urls = pytest.mark.urls(__name__)


@meta_urls
def test_meta_the_app_set_comes_back_on_the_next_request_of_the_connection(grip_client):
    opened = grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")])
    assert opened.set_meta == {"user": "alice"}
    assert grip_client.connection_meta() == {"user": "alice"}
    assert grip_client.websocket("/meta/", [("TEXT", "get user")]).messages == ["alice"]
    assert grip_client.websocket("/meta/", [("TEXT", "get user")]).set_meta == {}  # unchanged: not set again


@meta_urls
def test_meta_is_kept_per_connection_id(grip_client):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")], connection_id="a")
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user bob")], connection_id="b")
    assert grip_client.websocket("/meta/", [("TEXT", "get user")], connection_id="a").messages == ["alice"]
    assert grip_client.websocket("/meta/", [("TEXT", "get user")], connection_id="b").messages == ["bob"]
    assert grip_client.connection_meta("c") == {}


@meta_urls
def test_meta_the_app_removed_is_no_longer_sent(grip_client):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set room 7")])
    removed = grip_client.websocket("/meta/", [("TEXT", "del room")])
    assert removed.set_meta == {"room": ""}
    assert grip_client.connection_meta() == {}
    assert grip_client.websocket("/meta/", [("TEXT", "get room")]).messages == ["-"]


@meta_urls
@pytest.mark.parametrize("ending", [[("CLOSE", close_payload(1000))], [("DISCONNECT", None)]])
def test_meta_is_forgotten_when_the_connection_ends(grip_client, ending):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")])
    grip_client.websocket("/meta/", [("TEXT", "get user"), *ending])
    assert grip_client.connection_meta() == {}
    assert grip_client.websocket("/meta/", [("TEXT", "get user")]).messages == ["-"]


@meta_urls
def test_a_new_open_on_the_same_connection_id_starts_without_meta(grip_client):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")])
    assert grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "get user")]).messages == ["-"]


@meta_urls
def test_meta_given_by_the_test_is_merged_into_what_the_connection_holds(grip_client):
    grip_client.websocket("/meta/", [("OPEN", None), ("TEXT", "set user alice")])
    reply = grip_client.websocket("/meta/", [("TEXT", "get room")], meta={"room": "9"})
    assert reply.messages == ["9"]
    assert grip_client.connection_meta() == {"user": "alice", "room": "9"}
    grip_client.websocket("/meta/", [("TEXT", "get room")], meta={"room": ""})  # "" removes, as Set-Meta does
    assert grip_client.connection_meta() == {"user": "alice"}


def test_a_refused_open_keeps_no_meta(grip_client):
    assert grip_client.websocket("/ws/echo/", meta={"user": "mallory"}).status_code == 403
    assert grip_client.connection_meta() == {}


def test_meta_set_by_the_app_through_a_raw_body_is_kept_too(grip_client):
    grip_client.websocket("/ws/echo/", encode_events([("OPEN", None), ("TEXT", b"name carol")]))
    assert grip_client.websocket("/ws/echo/", encode_events([("TEXT", b"whoami")])).messages == ["carol"]


# -- events the test client refuses, saying what it takes --------------------------------------------------
@pytest.mark.parametrize(
    ("events", "says"),
    [
        ([{"type": "TEXT", "content": "hi"}], "event 0 is {'type'"),
        ({"type": "TEXT", "content": "hi"}, "must not be a dict"),
        ("TEXT hi", "must not be a str"),
        (("TEXT", b"hi"), "is one event, not a list"),
        ([("OPEN", None), ("SEND", b"x")], "event 1 has type 'SEND'"),
        ([("TEXT", 5)], "event 0 has content 5"),
        ([("TEXT",)], "event 0 is"),
        (7, "is not a list"),
    ],
)
def test_events_that_are_not_events_raise_a_type_error_naming_what_is_accepted(grip_client, events, says):
    with pytest.raises(TypeError) as raised:
        grip_client.websocket("/ws/echo/", events)
    assert says in str(raised.value)
    assert "(type, content) tuples or WebSocketEvent" in str(raised.value)
    assert "OPEN, TEXT, BINARY, PING, PONG, CLOSE, DISCONNECT" in str(raised.value)


def test_events_may_be_websocket_events_lists_or_str_content(grip_client):
    reply = grip_client.websocket("/ws/echo/", [WebSocketEvent("OPEN"), ["TEXT", "h\u00e9"]])
    assert reply.messages == ["h\u00e9"]


def test_a_malformed_raw_body_still_reaches_the_app(grip_client):
    assert grip_client.websocket("/ws/echo/", b"TEXT 9\r\nshort\r\n").status_code == 400


# -- every test publishes in memory unless it asks for the real proxy -------------------------------------
PROJECT_SETTINGS = """
SECRET_KEY = "x"
INSTALLED_APPS = ["grip_views"]
GRIP_PROXIES = [{"control_uri": "http://127.0.0.1:1"}]  # nothing listens: a real publish fails
"""

PROJECT_TESTS = """
import pytest
from gripcontrol import HttpStreamFormat

import grip_views
from grip_views import PublishError
from grip_views.testing import messages_on, outbox


def test_a_test_that_forgot_grip_outbox_publishes_in_memory():
    grip_views.publish("news", HttpStreamFormat("hi\\n"))
    assert messages_on("news", "http-stream") == [{"content": "hi\\n"}]


def test_the_outbox_is_empty_in_the_next_test():
    assert outbox == []


def test_grip_outbox_hands_over_the_same_list(grip_outbox):
    grip_views.publish("news", HttpStreamFormat("hi\\n"))
    assert grip_outbox is outbox and len(grip_outbox) == 1


@pytest.mark.grip_real_publisher
def test_a_marked_test_publishes_where_the_settings_say():
    with pytest.raises(PublishError, match="127.0.0.1:1"):
        grip_views.publish("news", HttpStreamFormat("hi\\n"))


def test_a_backend_set_by_the_test_wins(settings):
    settings.GRIP_PUBLISH_BACKEND = "grip_views.publishing.HttpPublisher"
    with pytest.raises(PublishError):
        grip_views.publish("news", HttpStreamFormat("hi\\n"))
"""


@pytest.fixture
def project(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(grip_views.__file__).resolve().parents[1]))
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    return pytester


def run_project(pytester, *args):
    quiet = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:benchmark"]
    return pytester.runpytest_subprocess("-p", "grip_views.testing.pytest_plugin", *quiet, *args)


def test_the_plugin_keeps_every_test_in_memory_unless_it_asks_for_the_real_proxy(project):
    project.makepyfile(project_settings=PROJECT_SETTINGS, test_project=PROJECT_TESTS)
    result = run_project(project, "--ds=project_settings")
    result.assert_outcomes(passed=5)


def test_tests_without_django_settings_run_untouched(project):
    project.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run_project(project)
    result.assert_outcomes(passed=1)


# -- PushpinStats, fed by a real ZeroMQ PUB socket speaking as pushpin-handler does -------------------
class StatsFeed:
    """A PUB socket bound where a PushpinStats connects; sends Pushpin-style packets."""

    def __init__(self) -> None:
        try:
            self.lib = stats_module._load_libzmq()
        except PushpinStatsError as exc:
            pytest.skip(str(exc))
        self.lib.zmq_bind.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self.lib.zmq_send.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.dir = tempfile.mkdtemp(prefix="gv-stats-")  # ipc:// paths must be short
        self.endpoint = f"ipc://{self.dir}/stats"
        self.ctx = self.lib.zmq_ctx_new()
        self.sock = self.lib.zmq_socket(self.ctx, 1)  # ZMQ_PUB
        assert self.lib.zmq_bind(self.sock, self.endpoint.encode()) == 0

    def send(self, kind: str, data: dict | bytes) -> None:
        body = data if isinstance(data, bytes) else b"J" + json.dumps(data).encode()
        packet = kind.encode() + b" " + body
        self.lib.zmq_send(self.sock, packet, len(packet), 0)

    def sub(self, channel: str, mode: str = "stream", subscribers: int = 1) -> None:
        self.send(
            "sub", {"channel": channel, "from": "h", "mode": mode, "subscribers": subscribers, "ttl": 60}
        )

    def unsub(self, channel: str, mode: str = "stream") -> None:
        self.send("sub", {"channel": channel, "from": "h", "mode": mode, "unavailable": True})

    def connect(self, stats: PushpinStats) -> None:
        """Send until the reader hears (a new SUB misses what is published before it joined)."""
        deadline = time.monotonic() + 5
        while stats.subscribers("hello") == 0:
            assert time.monotonic() < deadline, "the reader never heard the feed"
            self.sub("hello")
            time.sleep(0.01)

    def close(self) -> None:
        self.lib.zmq_setsockopt(self.sock, 17, ctypes.byref(ctypes.c_int(0)), 4)  # ZMQ_LINGER 0
        self.lib.zmq_close(self.sock)
        self.lib.zmq_ctx_term(self.ctx)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def feed() -> Iterator[StatsFeed]:
    feed = StatsFeed()
    yield feed
    feed.close()


@pytest.fixture
def stats(feed) -> Iterator[PushpinStats]:
    with PushpinStats(feed.endpoint) as stats:
        feed.connect(stats)
        yield stats


def test_stats_follow_the_subscriptions_pushpin_reports(feed, stats):
    feed.sub("news", "stream", 1)
    assert stats.wait_subscribed("news") == 1
    feed.sub("news", "ws", 2)
    assert stats.wait_subscribed("news", subscribers=3) == 3  # every mode together
    assert stats.subscribers("news", mode="ws") == 2
    feed.unsub("news", "stream")
    stats.wait_unsubscribed("news", mode="stream")
    assert stats.subscriptions() == {("stream", "hello"): 1, ("ws", "news"): 2}


def test_wait_subscribed_takes_several_names_and_answers_for_the_first_one_held(feed, stats):
    feed.sub("app.news", "response")
    assert stats.wait_subscribed(["app.app.news", "app.news"], mode="response") == 1


def test_wait_subscribed_times_out_saying_what_pushpin_reported(feed, stats):
    feed.sub("other", "ws")
    stats.wait_subscribed("other")
    with pytest.raises(TimeoutError) as raised:
        stats.wait_subscribed("news", timeout=0.05, subscribers=2, mode="stream")
    message = str(raised.value)
    assert "0 subscriber(s) on 'news' in mode 'stream' after 0.05 s, waiting for 2" in message
    assert "'other' (ws): 1" in message


def test_other_packets_and_malformed_ones_are_ignored(feed, stats):
    feed.send("conn", {"id": "c1", "type": "ws"})
    feed.send("sub", b"J{not json")
    feed.send("sub", {"channel": "no-mode"})
    feed.sub("after")
    stats.wait_subscribed("after")
    assert set(stats.subscriptions()) == {("stream", "hello"), ("stream", "after")}


def test_stats_not_in_json_say_to_set_stats_format(feed):
    with PushpinStats(feed.endpoint) as stats, pytest.raises(PushpinStatsError, match="stats_format=json"):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # until the reader has joined and heard one
            feed.send("sub", b"T31:7:channel,4:news,4:mode,6:stream,}")
            with contextlib.suppress(TimeoutError):
                stats.wait_subscribed("news", timeout=0.01)


def test_a_stats_reader_says_what_to_do_when_it_cannot_read():
    with pytest.raises(PushpinStatsError, match=r"start\(\) this PushpinStats"):
        PushpinStats("ipc:///nonexistent/stats").wait_subscribed("x")
    with pytest.raises(PushpinStatsError, match="start the Pushpin first"):
        PushpinStats.of(Pushpin())
    with pytest.raises(PushpinStatsError, match="could not connect"):
        PushpinStats("nonsense://x").start()


def test_an_unknown_mode_is_refused(stats):
    with pytest.raises(ValueError, match="stream, response, ws"):
        stats.wait_subscribed("news", timeout=0.01, mode="sse")


def test_grip_live_without_readable_stats_raises_the_reason_when_waiting():
    live = GripLive(pushpin=Pushpin(), backend_url="http://127.0.0.1:1", stats_error="no libzmq here")
    with pytest.raises(PushpinStatsError, match="no libzmq here"):
        live.wait_subscribed("news")


def test_the_pushpin_command_line_maps_each_option_to_the_pushpin_keyword_it_sets():
    import inspect

    from grip_views.pushpin import process

    argv = ["--backend", "127.0.0.1:9000", "--port", "7999", "--route", "* a", "--route", "* b"]
    argv += ["--push-in-sub-spec", "tcp://127.0.0.1:5560", "--push-in-sub-connect", "--client-maxconn", "9"]
    options = vars(process._parser().parse_args(argv))
    inspect.signature(Pushpin).bind(**options)  # a dest that is no keyword raises TypeError
    assert options["http_port"] == 7999
    assert options["routes"] == ["* a", "* b"]
    assert options["push_in_sub_specs"] == ["tcp://127.0.0.1:5560"]
    assert options["push_in_sub_connect"] is True
    assert options["client_maxconn"] == 9
    pushpin = Pushpin(**options)
    assert (pushpin.backend, pushpin.http_port, pushpin.routes) == ("127.0.0.1:9000", 7999, ["* a", "* b"])
