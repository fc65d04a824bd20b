"""Publishing: items, HttpPublisher against an in-process fake proxy, publish(), the outbox.

The fake proxy is a ThreadingHTTPServer on 127.0.0.1:0 whose answers each test
sets: a status, a hang until released, or closing a kept-alive connection.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from django.db import transaction
from django.test import override_settings
from gripcontrol import HttpResponseFormat, HttpStreamFormat, WebSocketMessageFormat

import grip_views
from grip_views import publishing
from grip_views.conf import Proxy
from grip_views.exceptions import InvalidChannel, PublishError, PublishFailure, PublishQueueFull
from grip_views.publishing import HttpPublisher, encode_item, export_formats, get_publisher, make_item
from grip_views.testing import InMemoryPublisher, messages_on, outbox

KEY = "a-publish-key-that-is-at-least-32-bytes"


# -- the fake proxy --------------------------------------------------------------------------------
class FakeProxy:
    """A publish endpoint on 127.0.0.1 that records requests and answers as told."""

    def __init__(self) -> None:
        self.status = 200
        self.reply = b"Published\n"
        self.hang = False  # hold each request until ``release`` is set
        self.close_kept_alive = False  # drop the connection after answering, without saying so
        self.release = threading.Event()
        self.requests: list[dict] = []
        self._seen = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with fake._seen:
                    fake.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "json": json.loads(body),
                            "client": self.client_address,
                        }
                    )
                    fake._seen.notify_all()
                if fake.hang:
                    fake.release.wait(10)
                self.send_response(fake.status)
                self.send_header("Content-Length", str(len(fake.reply)))
                self.end_headers()
                self.wfile.write(fake.reply)
                if fake.close_kept_alive:
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a client that timed out and left: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        with self._seen:
            return self._seen.wait_for(lambda: len(self.requests) >= count, timeout)

    @property
    def items(self) -> list[list[dict]]:
        """The items of each POST, in order."""
        return [r["json"]["items"] for r in self.requests]

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Iterator[FakeProxy]:
    fake = FakeProxy()
    yield fake
    fake.stop()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def publishers() -> Iterator[list[HttpPublisher]]:
    made: list[HttpPublisher] = []
    yield made
    for pub in made:
        pub.close(timeout=0.5)


@pytest.fixture
def make_publisher(publishers):
    def make(*proxies: Proxy, **kwargs) -> HttpPublisher:
        pub = HttpPublisher(proxies, **kwargs)
        publishers.append(pub)
        return pub

    return make


def item(channel: str = "ch", content: str = "x") -> dict:
    return make_item(channel, HttpStreamFormat(content), prefix="")


# == items =======================================================================================
def test_item_carries_channel_formats_id_prev_id_and_meta():
    assert make_item("news", HttpStreamFormat("a"), id=2, prev_id=1, meta={"sender": "bob"}, prefix="") == {
        "channel": "news",
        "formats": {"http-stream": {"content": "a"}},
        "id": "2",
        "prev-id": "1",
        "meta": {"sender": "bob"},
    }


def test_one_item_may_carry_a_format_per_kind_of_subscriber():
    formats = export_formats(
        [HttpStreamFormat("s"), HttpResponseFormat(body="r"), WebSocketMessageFormat("w")]
    )
    assert set(formats) == {"http-stream", "http-response", "ws-message"}


def test_formats_may_be_given_as_an_exported_dict():
    assert export_formats({"http-stream": {"content": "x"}}) == {"http-stream": {"content": "x"}}


def test_two_formats_of_the_same_kind_are_refused():
    with pytest.raises(ValueError, match="more than one"):
        export_formats([HttpStreamFormat("a"), HttpStreamFormat("b")])


def test_a_publish_without_formats_is_refused():
    with pytest.raises(ValueError, match="at least one format"):
        export_formats([])


@override_settings(GRIP_PREFIX="app-")
def test_grip_prefix_is_applied_once_even_to_a_reused_channel_object():
    shared = grip_views.Channel("news")
    first = make_item(shared, HttpStreamFormat("a"))
    second = make_item(shared, HttpStreamFormat("b"))
    assert first["channel"] == second["channel"] == "app-news"


def test_invalid_channel_or_meta_fails_in_the_caller():
    with pytest.raises(InvalidChannel):
        make_item("a b", HttpStreamFormat("x"))
    with pytest.raises(InvalidChannel):
        make_item("a", HttpStreamFormat("x"), meta={"bad name": "x"})


def test_binary_content_is_exported_as_base64_json():
    data = encode_item(make_item("b", WebSocketMessageFormat(b"\x00\xff", binary=True), prefix=""))
    assert json.loads(data)["formats"]["ws-message"] == {"content-bin": "AP8="}


def test_item_too_large_for_a_proxy_is_refused_before_sending():
    with pytest.raises(ValueError, match="1,000,000 bytes"):
        encode_item(item(content="x" * 1_000_000))


# == HttpPublisher, blocking ====================================================================
def test_blocking_publish_posts_the_items_to_the_publish_endpoint(proxy, make_publisher):
    make_publisher(Proxy(control_uri=proxy.url)).publish_items([item("a", "1")])
    (request,) = proxy.requests
    assert request["path"] == "/publish/"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["json"] == {"items": [{"channel": "a", "formats": {"http-stream": {"content": "1"}}}]}


def test_control_uri_with_a_path_gets_publish_appended(proxy, make_publisher):
    make_publisher(Proxy(control_uri=proxy.url + "/grip")).publish_items([item()])
    assert proxy.requests[0]["path"] == "/grip/publish/"


def test_items_published_together_go_in_one_post(proxy, make_publisher):
    make_publisher(Proxy(control_uri=proxy.url)).publish_items([item("a"), item("b"), item("c")])
    assert [[i["channel"] for i in post] for post in proxy.items] == [["a", "b", "c"]]


def test_batches_are_cut_at_the_batch_size(proxy, make_publisher):
    pub = make_publisher(Proxy(control_uri=proxy.url), batch_size=2)
    pub.publish_items([item(c) for c in "abcde"])
    assert [[i["channel"] for i in post] for post in proxy.items] == [["a", "b"], ["c", "d"], ["e"]]


def test_control_iss_authenticates_with_an_hs256_jwt(proxy, make_publisher):
    make_publisher(Proxy(control_uri=proxy.url, control_iss="pushpin", key=KEY)).publish_items([item()])
    scheme, token = proxy.requests[0]["headers"]["Authorization"].split(" ")
    claims = jwt.decode(token, KEY, algorithms=["HS256"])
    assert scheme == "Bearer"
    assert claims["iss"] == "pushpin"
    assert claims["exp"] > time.time()


def test_key_without_control_iss_is_sent_as_a_bearer_token(proxy, make_publisher):
    make_publisher(Proxy(control_uri=proxy.url, key="plain-token")).publish_items([item()])
    assert proxy.requests[0]["headers"]["Authorization"] == "Bearer plain-token"


def test_uri_credentials_are_sent_as_basic_auth_and_never_shown(proxy, make_publisher, caplog, settings):
    secret = "pa%3As-w0rd-nobody-sees"
    host = proxy.url.removeprefix("http://")
    settings.GRIP_PROXIES = []
    settings.GRIP_URL = f"http://publisher:{secret}@{host}/?tenant=t"
    settings.GRIP_PUBLISH_BACKEND = "grip_views.publishing.HttpPublisher"
    pub = get_publisher()
    pub.publish_items([item()])
    scheme, value = proxy.requests[0]["headers"]["Authorization"].split(" ")
    assert (scheme, base64.b64decode(value).decode()) == ("Basic", "publisher:pa:s-w0rd-nobody-sees")
    assert proxy.requests[0]["path"] == "/publish/?tenant=t"
    proxy.status = 500
    with caplog.at_level(logging.DEBUG), pytest.raises(PublishError) as info:
        pub.publish_items([item("news")])
    failures: list[PublishFailure] = []
    pub.error_handler = failures.append
    pub.publish_items([item("later")], blocking=False)
    assert pub.flush(timeout=5) and failures
    shown = [str(info.value), repr(info.value), repr(pub), repr(pub.servers), str(failures), caplog.text]
    shown += [repr(p) for p in grip_views.conf.grip_settings.publish_servers]
    for text in shown:
        assert "w0rd" not in text, text
    assert host in str(info.value)


def test_a_key_wins_over_uri_credentials(proxy, make_publisher):
    host = proxy.url.removeprefix("http://")
    make_publisher(Proxy(control_uri=f"http://user:pw@{host}", control_iss="pushpin", key=KEY)).publish_items(
        [item()]
    )
    scheme, token = proxy.requests[0]["headers"]["Authorization"].split(" ")
    assert scheme == "Bearer" and jwt.decode(token, KEY, algorithms=["HS256"])["iss"] == "pushpin"


def test_a_hand_built_proxy_with_credentials_in_its_uri_sends_basic_auth(proxy, make_publisher):
    host = proxy.url.removeprefix("http://")
    pub = make_publisher(Proxy(control_uri=f"http://user:s3cr3t-pw@{host}"))
    pub.publish_items([item()])
    assert (
        proxy.requests[0]["headers"]["Authorization"]
        == "Basic " + base64.b64encode(b"user:s3cr3t-pw").decode()
    )
    assert "s3cr3t" not in repr(pub) and pub.servers[0].uri == proxy.url


def test_no_key_sends_no_authorization(proxy, make_publisher):
    make_publisher(Proxy(control_uri=proxy.url)).publish_items([item()])
    assert "Authorization" not in proxy.requests[0]["headers"]


@pytest.mark.parametrize("status", [400, 500])
def test_proxy_refusing_a_publish_raises_with_channel_proxy_and_status(proxy, make_publisher, status):
    proxy.status, proxy.reply = status, b"Invalid format\n"
    with pytest.raises(PublishError) as info:
        make_publisher(Proxy(control_uri=proxy.url)).publish_items([item("news")])
    (failure,) = info.value.failures
    assert (failure.proxy, failure.channels, failure.status) == (proxy.url, ("news",), status)
    assert info.value.channels == ["news"]
    assert f"HTTP {status}" in str(info.value) and "Invalid format" in str(info.value)


@pytest.mark.parametrize(("status", "reply"), [(200, b"Published\n"), (202, b"Accepted\n"), (204, b"")])
def test_every_2xx_answer_is_a_successful_publish(proxy, make_publisher, status, reply):
    proxy.status, proxy.reply = status, reply
    pub = make_publisher(Proxy(control_uri=proxy.url))
    pub.publish_items([item("news")])  # blocking: raises on failure
    failures: list[PublishFailure] = []
    pub.error_handler = failures.append
    pub.publish_items([item("later")], blocking=False)
    assert pub.flush(timeout=5)
    assert failures == []
    assert pub.stats["sent"] == 1 and pub.stats["failed"] == 0


@pytest.mark.parametrize("status", [301, 304, 401])
def test_answers_outside_2xx_are_failed_publishes(proxy, make_publisher, status):
    proxy.status, proxy.reply = status, b""
    with pytest.raises(PublishError) as info:
        make_publisher(Proxy(control_uri=proxy.url)).publish_items([item("news")])
    assert info.value.failures[0].status == status


def test_unreachable_proxy_raises_publish_error(make_publisher, closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(PublishError, match="ConnectionRefused") as info:
        make_publisher(Proxy(control_uri=url)).publish_items([item("news")])
    assert info.value.failures[0].proxy == url
    assert info.value.failures[0].status is None


def test_hung_proxy_fails_a_blocking_publish_after_the_timeout(proxy, make_publisher):
    proxy.hang = True
    with pytest.raises(PublishError, match="timed out") as info:
        make_publisher(Proxy(control_uri=proxy.url), timeout=0.2).publish_items([item("news")])
    assert info.value.channels == ["news"]


def test_only_the_failing_proxy_is_reported(proxy, make_publisher, closed_port):
    bad = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(PublishError) as info:
        make_publisher(Proxy(control_uri=proxy.url), Proxy(control_uri=bad)).publish_items([item()])
    assert [f.proxy for f in info.value.failures] == [bad]
    assert len(proxy.requests) == 1


def test_no_proxy_to_publish_to_is_an_error_that_says_what_to_set(make_publisher):
    with pytest.raises(PublishError, match="GRIP_URL"):
        make_publisher(Proxy(key=KEY)).publish_items([item()])


def test_kept_alive_connection_is_reused(proxy, make_publisher):
    pub = make_publisher(Proxy(control_uri=proxy.url))
    pub.publish_items([item("a")])
    pub.publish_items([item("b")])
    assert proxy.requests[0]["client"] == proxy.requests[1]["client"]


def test_kept_alive_connection_closed_by_the_proxy_is_retried_not_reported(proxy, make_publisher):
    proxy.close_kept_alive = True
    pub = make_publisher(Proxy(control_uri=proxy.url))
    pub.publish_items([item("a")])
    pub.publish_items([item("b")])
    assert [post[0]["channel"] for post in proxy.items] == ["a", "b"]
    assert proxy.requests[0]["client"] != proxy.requests[1]["client"]


# == HttpPublisher, non-blocking =================================================================
def test_non_blocking_publish_returns_before_the_proxy_answers(proxy, make_publisher):
    proxy.hang = True
    pub = make_publisher(Proxy(control_uri=proxy.url))
    pub.publish_items([item("a")], blocking=False)
    assert proxy.wait_for(1)
    assert pub.flush(timeout=0.05) is False  # the proxy has not answered yet
    proxy.release.set()
    assert pub.flush(timeout=5) is True
    assert pub.stats["sent"] == 1


def test_items_queued_while_sending_go_out_together_in_one_post(proxy, make_publisher):
    proxy.hang = True
    pub = make_publisher(Proxy(control_uri=proxy.url))
    pub.publish_items([item("first")], blocking=False)
    assert proxy.wait_for(1)
    for channel in ("b", "c", "d"):
        pub.publish_items([item(channel)], blocking=False)
    proxy.release.set()
    assert pub.flush(timeout=5)
    assert [[i["channel"] for i in post] for post in proxy.items] == [["first"], ["b", "c", "d"]]
    assert pub.stats["batches"] == 2


def test_non_blocking_failure_is_passed_to_the_error_handler_with_channel_and_proxy(
    proxy, make_publisher, caplog
):
    proxy.status = 500
    failures: list[PublishFailure] = []
    pub = make_publisher(Proxy(control_uri=proxy.url), error_handler=failures.append)
    with caplog.at_level(logging.ERROR, logger="grip_views.publishing"):
        pub.publish_items([item("news")], blocking=False)
        assert pub.flush(timeout=5)
    (failure,) = failures
    assert (failure.proxy, failure.channels, failure.status) == (proxy.url, ("news",), 500)
    assert "news" in caplog.text and proxy.url in caplog.text
    assert pub.stats["failed"] == 1


def test_non_blocking_failure_without_a_handler_is_still_logged(make_publisher, closed_port, caplog):
    pub = make_publisher(Proxy(control_uri=f"http://127.0.0.1:{closed_port}"))
    with caplog.at_level(logging.ERROR, logger="grip_views.publishing"):
        pub.publish_items([item("lost")], blocking=False)
        assert pub.flush(timeout=5)
    assert "lost" in caplog.text


def test_error_handler_that_raises_does_not_stop_the_sender(proxy, make_publisher, caplog):
    def broken(failure):
        raise RuntimeError("handler bug")

    proxy.status = 500
    pub = make_publisher(Proxy(control_uri=proxy.url), error_handler=broken)
    with caplog.at_level(logging.ERROR, logger="grip_views.publishing"):
        pub.publish_items([item("a")], blocking=False)
        assert pub.flush(timeout=5)
        proxy.status = 200
        pub.publish_items([item("b")], blocking=False)
        assert pub.flush(timeout=5)
    assert pub.stats["sent"] == 1
    assert "GRIP_PUBLISH_ERROR_HANDLER raised" in caplog.text


def test_full_queue_raises_publish_queue_full_naming_the_channel(make_publisher, monkeypatch):
    pub = make_publisher(Proxy(control_uri="http://127.0.0.1:9"), queue_size=1, timeout=0.05)
    monkeypatch.setattr(pub, "_ensure_worker", lambda: None)  # a sender stuck on a hung proxy
    pub.publish_items([item("fits")], blocking=False)
    with pytest.raises(PublishQueueFull, match="GRIP_PUBLISH_QUEUE_SIZE") as info:
        pub.publish_items([item("overflow")], blocking=False)
    assert info.value.channels == ["overflow"]
    assert isinstance(info.value, PublishError)
    pub._queue.get_nowait()
    pub._queue.task_done()


def test_close_sends_what_is_queued_first(proxy, make_publisher):
    pub = HttpPublisher([Proxy(control_uri=proxy.url)])
    pub.publish_items([item("a"), item("b")], blocking=False)
    pub.close(timeout=5)
    assert sorted(i["channel"] for post in proxy.items for i in post) == ["a", "b"]


# == secrets stay secret =========================================================================
def test_keys_appear_in_no_repr_error_or_log(make_publisher, closed_port, caplog):
    proxy = Proxy(control_uri=f"http://127.0.0.1:{closed_port}", control_iss="pushpin", key=KEY)
    pub = make_publisher(proxy)
    with pytest.raises(PublishError) as info:
        pub.publish_items([item()])
    with caplog.at_level(logging.DEBUG):
        pub.publish_items([item()], blocking=False)
        assert pub.flush(timeout=5)
    for text in (
        repr(proxy),
        repr(pub),
        repr(pub.servers[0]),
        str(info.value),
        repr(info.value),
        caplog.text,
    ):
        assert KEY not in text


# == publish() and the process publisher =============================================================
def test_publish_goes_to_the_configured_publisher_with_the_prefix():
    with override_settings(GRIP_PREFIX="app-"):
        grip_views.publish("news", HttpStreamFormat("hi"), id="1", meta={"sender": "x"})
        assert messages_on("news") == [
            {
                "channel": "app-news",
                "formats": {"http-stream": {"content": "hi"}},
                "id": "1",
                "meta": {"sender": "x"},
            }
        ]


def test_default_backend_is_the_http_publisher():
    with override_settings():
        from django.conf import settings

        del settings.GRIP_PUBLISH_BACKEND
        publishing.reset_publisher()
        try:
            assert type(get_publisher()) is HttpPublisher
        finally:
            publishing.reset_publisher()


def test_publish_through_settings_reaches_the_proxy_and_reports_failures(proxy):
    settings = {
        "GRIP_PUBLISH_BACKEND": "grip_views.publishing.HttpPublisher",
        "GRIP_PROXIES": [{"control_uri": proxy.url, "control_iss": "pushpin", "key": KEY}],
        "GRIP_PUBLISH_TIMEOUT": 2,
    }
    with override_settings(**settings):
        grip_views.publish("news", HttpStreamFormat("hi"))
        assert proxy.items == [[{"channel": "news", "formats": {"http-stream": {"content": "hi"}}}]]
        proxy.status = 400
        with pytest.raises(PublishError, match="news"):
            grip_views.publish("news", HttpStreamFormat("again"))


def test_non_blocking_publish_and_flush_through_settings(proxy):
    failures: list[PublishFailure] = []
    with override_settings(
        GRIP_PUBLISH_BACKEND="grip_views.publishing.HttpPublisher",
        GRIP_PROXIES=[{"control_uri": proxy.url}],
        GRIP_PUBLISH_ERROR_HANDLER=failures.append,
    ):
        grip_views.publish("a", HttpStreamFormat("1"), blocking=False)
        assert grip_views.flush(timeout=5)
        proxy.status = 500
        grip_views.publish("b", HttpStreamFormat("2"), blocking=False)
        assert grip_views.flush(timeout=5)
    assert [f.channels for f in failures] == [("b",)]


def test_changing_publish_settings_builds_a_new_publisher(proxy):
    with override_settings(
        GRIP_PUBLISH_BACKEND="grip_views.publishing.HttpPublisher",
        GRIP_PROXIES=[{"control_uri": proxy.url}],
        GRIP_PUBLISH_TIMEOUT=3,
    ):
        first = get_publisher()
        assert first.timeout == 3
        with override_settings(GRIP_PUBLISH_TIMEOUT=7):
            assert get_publisher().timeout == 7
    assert isinstance(get_publisher(), InMemoryPublisher)


@pytest.mark.django_db
def test_on_commit_publish_waits_for_the_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            grip_views.publish("news", HttpStreamFormat("saved"), on_commit=True)
            assert outbox == []
    assert [i["channel"] for i in outbox] == ["news"]


@pytest.mark.django_db
def test_on_commit_publish_is_dropped_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            grip_views.publish("news", HttpStreamFormat("lost"), on_commit=True)
            raise RuntimeError("rollback")
    assert callbacks == []
    assert outbox == []


@pytest.mark.django_db
def test_on_commit_publish_with_bad_input_fails_at_once():
    with pytest.raises(InvalidChannel), transaction.atomic():
        grip_views.publish("a b", HttpStreamFormat("x"), on_commit=True)


def test_importing_grip_views_needs_no_settings_and_builds_no_publisher():
    code = (
        "import threading, django.conf\n"
        "import grip_views, grip_views.views, grip_views.middleware, grip_views.checks\n"
        "from grip_views import publishing\n"
        "assert not django.conf.settings.configured\n"
        "assert publishing._publisher is None\n"
        "assert [t.name for t in threading.enumerate()] == ['MainThread']\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr


def test_publishing_raises_no_deprecation_warning(proxy, make_publisher):
    """pubcontrol's datetime.utcnow() warned on Python 3.12+; grip_views does not use it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_publisher(Proxy(control_uri=proxy.url, control_iss="pushpin", key=KEY)).publish_items([item()])
    source = "".join(p.read_text() for p in Path(publishing.__file__).parent.rglob("*.py"))
    assert "utcnow" not in source


# == the in-memory outbox =========================================================================
def test_in_memory_publisher_keeps_items_in_the_outbox():
    InMemoryPublisher().publish_items([item("a"), item("b")])
    assert [i["channel"] for i in outbox] == ["a", "b"]


def test_in_memory_publisher_refuses_what_a_proxy_would_refuse():
    with pytest.raises(ValueError, match="1,000,000"):
        InMemoryPublisher().publish_items([item(content="x" * 1_000_000)])


def test_messages_on_filters_by_channel_with_prefix_and_by_format():
    with override_settings(GRIP_PREFIX="p-"):
        grip_views.publish("a", [HttpStreamFormat("s"), WebSocketMessageFormat("w")])
        grip_views.publish("b", HttpStreamFormat("other"))
        assert len(messages_on("a")) == 1
        assert messages_on("a", "ws-message") == [{"content": "w"}]
        assert messages_on("a", "http-response") == []


# == filters' publish meta, no-seq, Fanout =========================================================
def test_filter_options_become_the_publish_meta_pushpins_filters_read(grip_outbox):
    grip_views.publish(
        "room",
        WebSocketMessageFormat("hi"),
        meta={"topic": "x"},
        sender="c-1",
        skip_users=["ann", "bob"],
        require_sub="vip",
    )
    (item,) = grip_outbox
    assert item["meta"] == {"topic": "x", "sender": "c-1", "skip_users": "ann,bob", "require_sub": "vip"}


def test_require_sub_names_a_channel_so_it_gets_the_prefix(grip_outbox, settings):
    settings.GRIP_PREFIX = "app-"
    grip_views.publish("room", WebSocketMessageFormat("hi"), require_sub="vip")
    assert grip_outbox[0]["meta"] == {"require_sub": "app-vip"}


def test_a_filter_option_given_twice_or_a_user_name_with_a_comma_is_refused(grip_outbox):
    with pytest.raises(ValueError, match="sender given both"):
        grip_views.publish("room", WebSocketMessageFormat("hi"), meta={"sender": "a"}, sender="b")
    with pytest.raises(ValueError, match="without commas"):
        grip_views.publish("room", WebSocketMessageFormat("hi"), skip_users=["a,b"])
    assert grip_outbox == []


def test_a_single_skip_user_may_be_a_string(grip_outbox):
    grip_views.publish("room", WebSocketMessageFormat("hi"), skip_users="ann")
    assert grip_outbox[0]["meta"] == {"skip_users": "ann"}


def test_no_seq_is_sent_only_when_asked_for(grip_outbox):
    grip_views.publish("room", HttpStreamFormat("a"), id="3", prev_id="2", no_seq=True)
    grip_views.publish("room", HttpStreamFormat("b"), id="4", prev_id="3")
    assert [i.get("no-seq") for i in grip_outbox] == [True, None]


def test_a_fanout_grip_url_publishes_exactly_the_request_fanout_documents(proxy):
    # Fastly's publishing API: POST https://api.fastly.com/service/{service_id}/publish/
    # (the trailing slash is required), the API token as "Authorization: Bearer",
    # a JSON body {"items": [{"channel", "formats", "id", "prev-id"}]}. The stand-in
    # plays api.fastly.com on loopback.
    grip_url = f"{proxy.url}/service/SRV1abc?verify-iss=fastly:SRV1abc&key=fastly-api-token-0123456789"
    with override_settings(
        GRIP_PUBLISH_BACKEND="grip_views.publishing.HttpPublisher", GRIP_PROXIES=[], GRIP_URL=grip_url
    ):
        grip_views.publish("news", WebSocketMessageFormat("hello"), id="2", prev_id="1")
    (request,) = proxy.requests
    assert request["path"] == "/service/SRV1abc/publish/"
    assert request["headers"]["Authorization"] == "Bearer fastly-api-token-0123456789"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["json"] == {
        "items": [
            {"channel": "news", "formats": {"ws-message": {"content": "hello"}}, "id": "2", "prev-id": "1"}
        ]
    }
