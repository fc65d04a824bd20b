"""The demo, as shipped, through a real Pushpin: curl-like clients, WebSocket
clients, a headless browser, and the one-command runner."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websocket

from grip_views.pushpin import Pushpin
from grip_views.testing.pytest_plugin import require_pushpin
from tests.e2e.support import StreamReader, free_port, headless_chromium

ROOT = Path(__file__).resolve().parents[2]
KEY = "demo-e2e-key-0123456789abcdef0123456789"

pytestmark = pytest.mark.pushpin


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


class DemoStack:
    def __init__(self, tmp: Path, server: str = "wsgi") -> None:
        self.server = server
        self.django_port = free_port()
        # Fixed ports: a stopped Pushpin starts again where the page and Django expect it.
        self.pushpin = Pushpin(
            backend=f"127.0.0.1:{self.django_port}",
            sig_key=KEY,
            http_port=free_port(),
            publish_port=free_port(),
        )
        self.tmp = tmp
        self.django: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.pushpin.start()
        env = {
            **os.environ,
            "GRIP_URL": f"{self.pushpin.publish_url}/?iss=pushpin&key={KEY}",
            "DEMO_DB": str(self.tmp / "demo.sqlite3"),
            "DJANGO_DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "demo.settings",
        }
        manage = [sys.executable, str(ROOT / "demo" / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True)
        if self.server == "asgi":
            command = [
                sys.executable, "-m", "uvicorn", "demo.asgi:application",
                "--host", "127.0.0.1", "--port", str(self.django_port),
                "--app-dir", str(ROOT / "demo"), "--log-level", "warning",
            ]  # fmt: skip
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "demo"), str(ROOT)])
        else:
            command = [*manage, "runserver", f"127.0.0.1:{self.django_port}", "--noreload"]
        self.django = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "django.log", "wb"),
        )
        _wait_http(f"http://127.0.0.1:{self.django_port}/stream/")

    def stop(self) -> None:
        if self.django is not None and self.django.poll() is None:
            self.django.terminate()
            self.django.wait(10)
        self.pushpin.stop()

    @property
    def url(self) -> str:
        return self.pushpin.url


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """The demo behind Pushpin, served by runserver (WSGI) and by uvicorn (ASGI)."""
    require_pushpin()
    stack = DemoStack(tmp_path_factory.mktemp("demo"), server=request.param)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def _read_stream(url: str, want: int, into: list[bytes], ready: threading.Event) -> None:
    with requests.get(url, stream=True, timeout=15) as response:
        into.append(f"{response.status_code}".encode())
        ready.set()
        for chunk in response.iter_lines():
            into.append(chunk)
            if len(into) > want:
                return


def test_stream_example_sends_open_line_then_published_lines(demo: DemoStack) -> None:
    lines: list[bytes] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_stream, args=(f"{demo.url}/stream/", 2, lines, ready))
    reader.start()
    assert ready.wait(10)
    deadline = time.monotonic() + 10
    while b"[stream open]" not in lines and time.monotonic() < deadline:
        time.sleep(0.05)
    answer = requests.post(f"{demo.url}/stream/", data={"data": "hello"}, timeout=10)
    assert answer.text == "Ok\n"
    reader.join(15)
    assert lines[:3] == [b"200", b"[stream open]", b"hello"]


def test_stream_example_answers_501_to_a_direct_request(demo: DemoStack) -> None:
    response = requests.get(f"http://127.0.0.1:{demo.django_port}/stream/", timeout=5)
    assert response.status_code == 501
    assert "Grip-Hold" not in response.headers


def test_echo_example_echoes_and_receives_broadcasts(demo: DemoStack) -> None:
    ws = websocket.create_connection(f"{demo.pushpin.ws_url}/echo/", timeout=10)
    try:
        ws.send("ping?")
        assert ws.recv() == "ping?"  # one round trip: subscribed before we publish
        ws.send_binary(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
        assert requests.post(f"{demo.url}/broadcast/", data={"data": "to all"}, timeout=10).text == "Ok\n"
        assert ws.recv() == "to all"
    finally:
        ws.close()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "reason"),
    [
        ("POST", "/broadcast/", b"=&&=", FORM, 400, "The form field 'data' is missing: send data=<text>."),
        ("POST", "/stream/", b"data=", FORM, 400, "The form field 'data' is empty."),
        ("POST", "/events/", b"data=\xff\xfe", FORM, 400, "The body is not UTF-8."),
        ("POST", "/events/", b"data=%FF", FORM, 400, "The form field 'data' is not UTF-8."),
        ("GET", "/broadcast/", b"", {}, 405, "GET is not allowed here: use POST."),
        ("DELETE", "/stream/", b"", {}, 405, "DELETE is not allowed here: use GET, POST, HEAD, OPTIONS."),
        ("POST", "/", b"data=hi", FORM, 403, "CSRF verification failed: CSRF cookie not set."),
    ],
    ids=["missing", "empty", "not-utf8", "escaped-not-utf8", "get-broadcast", "delete-stream", "post-page"],
)
def test_a_bad_request_gets_a_4xx_with_a_one_line_reason_through_pushpin(
    demo: DemoStack, method: str, path: str, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    response = requests.request(method, f"{demo.url}{path}", data=body, headers=headers, timeout=10)
    assert (response.status_code, response.text) == (status, reason + "\n")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_the_api_answers_json_that_is_not_utf8_with_a_400_through_pushpin(demo: DemoStack) -> None:
    response = requests.post(
        f"{demo.url}/api/todos/", data=b'{"title": "\xff"}', headers=JSON, auth=("demo", "demo"), timeout=10
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error - 'utf-8' codec can't decode byte 0xff in position 11: invalid start byte"
    }
    form = requests.post(f"{demo.url}/api/todos/", data={"title": "x"}, auth=("demo", "demo"), timeout=10)
    assert form.status_code == 415


def test_live_page_shows_published_events_and_chat_in_a_browser(demo: DemoStack, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with headless_chromium(tmp_path / "profile") as browser:
        browser.get(f"{demo.url}/")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda b: b.find_element(By.ID, "sse-state").text == "open")
        wait.until(lambda b: b.find_element(By.ID, "ws-state").text == "open")

        box = browser.find_element(By.ID, "chat-input")
        box.send_keys("typed in the page")
        browser.find_element(By.CSS_SELECTOR, "#chat-form button").click()
        wait.until(lambda b: "typed in the page" in b.find_element(By.ID, "chat").text)

        requests.post(f"{demo.url}/events/", data={"data": "event from python"}, timeout=10)
        requests.post(f"{demo.url}/broadcast/", data={"data": "broadcast from python"}, timeout=10)
        wait.until(lambda b: "event from python" in b.find_element(By.ID, "events").text)
        wait.until(lambda b: "broadcast from python" in b.find_element(By.ID, "chat").text)
        browser.save_screenshot(str(tmp_path / "live.png"))


_LIST = (
    "return [...document.querySelectorAll(arguments[0] + ' li')].map(li => [li.dataset.id, li.textContent]);"
)


def _post_event(base: str, data: str) -> str:
    """POST /events/; the id the demo answers with once the event is stored."""
    answer = requests.post(f"{base}/events/", data={"data": data}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text.removeprefix("Ok: event ").strip()


@pytest.mark.parametrize("demo", ["asgi"], indirect=True)
def test_live_page_resumes_after_the_proxy_restarts_and_shows_what_it_caught_up_on(
    demo: DemoStack, tmp_path: Path
) -> None:
    """EventSource (Last-Event-ID) and grip-socket.js (?last_id=) in Chromium: the proxy
    is stopped, events are published meanwhile, the page resumes and shows each event
    once, in order, and how many it caught up on; then forced WebSocket reconnects
    racing a burst of publishes leave no duplicate and no gap."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    direct = f"http://127.0.0.1:{demo.django_port}"
    with headless_chromium(tmp_path / "profile") as browser:
        browser.get(f"{demo.url}/")
        wait = WebDriverWait(browser, 30, poll_frequency=0.1)
        wait.until(lambda b: b.find_element(By.ID, "sse-state").text == "open")
        # The socket's first caught-up message (the channel's last id) comes with its subscription.
        wait.until(lambda b: b.execute_script("return eventsSocket.lastId !== null"))
        time.sleep(0.3)  # the subscription lands just after the handshake (Pushpin facts)

        def lists() -> tuple[list[list[str]], list[list[str]]]:
            return browser.execute_script(_LIST, "#events"), browser.execute_script(_LIST, "#ws-events")

        def shown(want: list[list[str]]) -> bool:
            sse, ws = lists()
            return len(sse) >= len(want) and len(ws) >= len(want)

        ids = [_post_event(demo.url, f"before {n}") for n in range(3)]
        expected = [[i, f"{i}: before {n}"] for n, i in enumerate(ids)]
        wait.until(lambda b: shown(expected))

        demo.pushpin.stop()
        wait.until(lambda b: b.find_element(By.ID, "sse-state").text == "reconnecting…")
        wait.until(lambda b: b.find_element(By.ID, "ws-events-state").text == "reconnecting…")
        down = [_post_event(direct, f"while down {n}") for n in range(4)]  # stored, not sent
        expected += [[i, f"{i}: while down {n}"] for n, i in enumerate(down)]
        demo.pushpin.start()
        wait.until(lambda b: shown(expected))
        wait.until(lambda b: b.find_element(By.ID, "ws-caught-up").get_attribute("data-resumes") != "0")
        sse, ws = lists()
        assert sse == expected
        assert ws == expected
        for caught in ("sse-caught-up", "ws-caught-up"):
            element = browser.find_element(By.ID, caught)
            assert element.get_attribute("data-missed") == "4", element.text
            assert "caught up on 4 missed events" in element.text

        # Forced reconnects while a burst is published: replays overlap live events
        # (dropped by id) or miss one (a gap: grip-socket.js resumes again).
        burst: list[str] = []
        publisher = threading.Thread(
            target=lambda: burst.extend(_post_event(demo.url, f"burst {n}") for n in range(15))
        )
        publisher.start()
        for _ in range(5):
            browser.execute_script("eventsSocket.reconnect()")
            time.sleep(0.15)
        publisher.join(60)
        wait.until(lambda b: b.execute_script("return eventsSocket.readyState === WebSocket.OPEN"))
        time.sleep(0.3)
        last = _post_event(demo.url, "last")  # shows any gap the burst left at its end
        expected += [[i, f"{i}: burst {n}"] for n, i in enumerate(burst)] + [[last, f"{last}: last"]]
        wait.until(lambda b: shown(expected))
        sse, ws = lists()
        assert sse == expected
        assert ws == expected
        stats = browser.execute_script(
            "return [eventsSocket.duplicates, eventsSocket.gaps, eventsSocket.totalCaughtUp]"
        )
        print(
            f"\n[browser resume] {len(expected)} events; grip-socket.js duplicates, gaps, caught up: {stats}"
        )


@pytest.mark.parametrize("server", ["runserver", "gunicorn", "uvicorn"])
def test_one_command_runner_starts_both_and_stops_both_on_ctrl_c(server: str, tmp_path: Path) -> None:
    require_pushpin()
    port, django_port, publish_port = free_port(), free_port(), free_port()
    env = {**os.environ, "DEMO_DB": str(tmp_path / "db.sqlite3"), "PYTHONUNBUFFERED": "1"}
    runner = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "demo" / "run.py"),
            f"--port={port}",
            f"--django-port={django_port}",
            f"--publish-port={publish_port}",
            f"--server={server}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = b""
    try:
        deadline = time.monotonic() + 40
        while b"Pushpin publish endpoint" not in output and time.monotonic() < deadline:
            line = runner.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            output += line
        assert b"Ctrl-C stops it" in output, output.decode(errors="replace")
        assert f"Django ({server})".encode() in output
        stream = StreamReader(f"http://127.0.0.1:{port}/stream/")
        try:
            assert stream.status == 200
            assert stream.next() == b"[stream open]"
            # Pushpin subscribes the stream just after it answers: publish until it arrives.
            got = None
            for _ in range(20):
                published = requests.post(
                    f"http://127.0.0.1:{port}/stream/", data={"data": server}, timeout=10
                )
                assert published.status_code == 200, published.text
                with contextlib.suppress(queue.Empty):
                    got = stream.next(timeout=1)
                    break
            assert got == server.encode()
        finally:
            stream.close()
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(20)
    for p in (port, django_port, publish_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", p)) != 0, f"port {p} still listening after Ctrl-C"
