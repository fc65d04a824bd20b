"""The real-Pushpin harness (grip_views.pushpin and its pytest plugin).

No Django here: the backend is a tiny ``http.server`` that answers GRIP by hand,
so these tests prove the harness on its own. Everything talks to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import websocket
from gripcontrol import GripPubControl, WebSocketMessageFormat, parse_grip_uri
from pubcontrol import Item

import grip_views.pushpin.process as harness
from grip_views.pushpin import (
    CLIENT_BUFFER_SIZE,
    Pushpin,
    PushpinError,
    PushpinNotInstalled,
    find_pushpin,
    install_pushpin,
)
from grip_views.testing.pytest_plugin import require_pushpin

F = TypeVar("F", bound=Callable[..., Any])


def needs_pushpin(test: F) -> F:
    """For tests that run a real Pushpin: left out by -m "not pushpin", skipped without it."""
    return pytest.mark.pushpin(pytest.mark.usefixtures("_pushpin_installed")(test))


REPO = Path(__file__).resolve().parents[2]
# A key Pushpin's config cannot hold as it is (',' and ';'): written base64-encoded.
ODD_KEY = "a s3cret key, with; odd=chars and 32+ bytes"
WS_EVENTS = "application/websocket-events"
LONG_KEY = "a-plain-key-for-the-harness-tests-0123456789"


# ------------------------------------------------------------------ backend
@dataclass
class Seen:
    """One request the backend received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Backend:
    """A GRIP origin answering by hand; ``target`` is its ``host:port``."""

    target: str
    seen: list[Seen] = field(default_factory=list)

    def requests_to(self, path: str) -> list[Seen]:
        return [r for r in self.seen if urlsplit(r.path).path == path]


def parse_events(body: bytes) -> list[tuple[str, bytes]]:
    """WebSocket-over-HTTP events: ``TYPE [hexlen]\\r\\n[content\\r\\n]``."""
    events = []
    while body:
        line, _, body = body.partition(b"\r\n")
        kind, _, size = line.decode().partition(" ")
        content = b""
        if size:
            length = int(size, 16)
            content, body = body[:length], body[length + 2 :]
        events.append((kind, content))
    return events


def event(kind: str, content: bytes | None = None) -> bytes:
    if content is None:
        return f"{kind}\r\n".encode()
    return f"{kind} {len(content):x}\r\n".encode() + content + b"\r\n"


class GripHandler(BaseHTTPRequestHandler):
    """``/stream?channel=C`` holds a stream; WebSockets subscribe to ``?channel=C``
    and echo; anything else answers ``plain:<path>``."""

    backend: Backend

    def do_GET(self) -> None:
        self._record(b"")
        url = urlsplit(self.path)
        if url.path == "/stream":
            channel = parse_qs(url.query)["channel"][0]
            self._answer(
                b"[open]\n",
                {
                    "Content-Type": "text/plain",
                    "Grip-Hold": "stream",
                    "Grip-Channel": channel,
                },
            )
        else:
            self._answer(f"plain:{url.path}".encode(), {"Content-Type": "text/plain"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._record(body)
        if self.headers.get("Content-Type") != WS_EVENTS:
            self._answer(b"not websocket", {"Content-Type": "text/plain"})
            return
        channel = parse_qs(urlsplit(self.path).query).get("channel", ["none"])[0]
        out = b""
        for kind, content in parse_events(body):
            if kind == "OPEN":
                subscribe = {"type": "subscribe", "channel": channel}
                out += event("OPEN") + event("TEXT", b"c:" + json.dumps(subscribe).encode())
            elif kind == "TEXT":
                out += event("TEXT", b"m:echo:" + content)
            elif kind == "CLOSE":
                out += event("CLOSE", content)
        self._answer(out, {"Content-Type": WS_EVENTS, "Sec-WebSocket-Extensions": "grip"})

    def _record(self, body: bytes) -> None:
        self.backend.seen.append(Seen(self.command, self.path, dict(self.headers), body))

    def _answer(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def _pushpin_installed() -> None:
    require_pushpin()


@pytest.fixture(scope="module")
def backend(_pushpin_installed: None) -> Iterator[Backend]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), GripHandler)
    server.daemon_threads = True
    state = Backend(target=f"127.0.0.1:{server.server_address[1]}")
    GripHandler.backend = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def proxy(backend: Backend) -> Iterator[Pushpin]:
    """One instance shared by the traffic tests, with a key needing base64."""
    with Pushpin(backend.target, sig_key=ODD_KEY) as pushpin:
        yield pushpin


@pytest.fixture
def fresh(backend: Backend) -> Iterator[Callable[..., Pushpin]]:
    """Start instances for one test; whatever the test leaves running is stopped."""
    started: list[Pushpin] = []

    def start(**kwargs: Any) -> Pushpin:
        pushpin = Pushpin(backend.target, **{"sig_key": LONG_KEY, **kwargs})
        started.append(pushpin)
        return pushpin.start()

    yield start
    for pushpin in started:
        pushpin.stop()


# ------------------------------------------------------------------ helpers
def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(6).hex()}"


def alive(pid: int) -> bool:
    return harness._pid_alive(pid)


def all_pids(pushpin: Pushpin) -> dict[str, int]:
    assert pushpin.pid is not None
    return {"runner": pushpin.pid, **pushpin.child_pids}


class StreamReader:
    """Lines of a held HTTP stream, read through the proxy."""

    def __init__(self, pushpin: Pushpin, channel: str) -> None:
        self.response = requests.get(f"{pushpin.url}/stream?channel={channel}", stream=True, timeout=10)
        if self.response.status_code != 200:
            body = self.response.raw.read(500)
            self.response.close()
            raise AssertionError(f"{self.response.status_code} {body!r}\n{pushpin.log_text()[-3000:]}")
        self._lines = self.response.iter_lines(chunk_size=1, decode_unicode=True)

    def next_line(self) -> str:
        return str(next(self._lines))

    def close(self) -> None:
        self.response.close()


def publish_until(publish: Callable[[str], None], receive: Callable[[], str]) -> str:
    """Publish numbered messages until one arrives; return the first received.

    A subscription is made asynchronously inside Pushpin: a message published
    the instant a client is held can be missed, so keep publishing until the
    (blocking, timeout-bounded) receive gets one.
    """
    got = threading.Event()

    def keep_publishing() -> None:
        number = 0
        while not got.wait(0.2 if number else 0):
            publish(f"sync-{number}")
            number += 1

    thread = threading.Thread(target=keep_publishing, daemon=True)
    thread.start()
    try:
        return receive()
    finally:
        got.set()
        thread.join(5)


def stream_publisher(pushpin: Pushpin, channel: str) -> Callable[[str], None]:
    pub = GripPubControl(pushpin.grip_proxy)
    return lambda text: pub.publish_http_stream(channel, f"{text}\n")


# -------------------------------------------------------------- lifecycle
@needs_pushpin
def test_stop_leaves_no_process_and_removes_the_workdir(
    fresh: Callable[..., Pushpin],
) -> None:
    pushpin = fresh()
    pids = all_pids(pushpin)
    assert set(pids) == {"runner", *harness.SERVICES}
    assert all(alive(pid) for pid in pids.values())
    assert pushpin.rundir is not None
    assert {p.name for p in pushpin.rundir.glob("*.pid")} == {f"{name}.pid" for name in harness.SERVICES}
    workdir = pushpin.workdir
    assert workdir is not None and workdir.is_dir()

    pushpin.stop()

    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert not workdir.exists()
    assert "stopped" in pushpin.log_text()  # the log outlives the workdir
    pushpin.stop()  # idempotent
    assert not pushpin.running


@needs_pushpin
def test_plain_get_passes_the_catch_all_over_http_route(proxy: Pushpin, backend: Backend) -> None:
    path = f"/{unique('plain')}/page"
    response = requests.get(f"{proxy.url}{path}?x=1", timeout=10)

    assert response.status_code == 200
    assert response.text == f"plain:{path}"
    [seen] = backend.requests_to(path)
    assert seen.method == "GET"
    assert seen.path == f"{path}?x=1"


@needs_pushpin
def test_backend_requests_are_signed_with_the_configured_key(proxy: Pushpin, backend: Backend) -> None:
    path = f"/{unique('signed')}"
    requests.get(f"{proxy.url}{path}", headers={"Grip-Sig": "forged"}, timeout=10)

    [seen] = backend.requests_to(path)
    token = seen.headers["Grip-Sig"]
    assert token != "forged"
    claims = jwt.decode(token, ODD_KEY, algorithms=["HS256"], issuer=proxy.sig_iss)
    assert claims["exp"] > time.time()


@needs_pushpin
def test_stream_through_the_proxy_receives_a_published_line(proxy: Pushpin) -> None:
    channel = unique("stream")
    stream = StreamReader(proxy, channel)
    try:
        assert stream.next_line() == "[open]"
        first = publish_until(stream_publisher(proxy, channel), stream.next_line)
        assert first.startswith("sync-")
    finally:
        stream.close()


@needs_pushpin
def test_websocket_handshake_through_the_same_route(proxy: Pushpin, backend: Backend) -> None:
    channel = unique("ws")
    path = f"/any/{unique('deep')}/path"
    ws = websocket.create_connection(f"{proxy.ws_url}{path}?channel={channel}", timeout=10)
    try:
        ws.send("hello")
        assert ws.recv() == "echo:hello"
        # Publish with the GRIP_URL form, to prove it reaches this instance too.
        pub = GripPubControl(parse_grip_uri(proxy.grip_url))
        got = publish_until(
            lambda text: pub.publish(channel, Item(WebSocketMessageFormat(text)), blocking=True), ws.recv
        )
        assert got.startswith("sync-")
    finally:
        ws.close()

    opens = [r for r in backend.requests_to(path) if b"OPEN" in r.body]
    assert len(opens) == 1
    assert opens[0].method == "POST"
    assert opens[0].headers["Content-Type"] == WS_EVENTS
    assert opens[0].headers.get("Connection-Id")


@needs_pushpin
def test_request_headers_must_fit_the_client_buffer(proxy: Pushpin, backend: Backend) -> None:
    """The tuned client_buffer_size (4 KiB) bounds a request's header block: one
    that fits passes, one that does not is reset unanswered, as the docs say."""
    assert proxy.client_buffer_size == CLIENT_BUFFER_SIZE == 4096
    config = (proxy.workdir / "pushpin.conf").read_text()
    assert "client_buffer_size=4096\n" in config and "client_maxconn=10000\n" in config
    path = f"/{unique('cookie')}"
    fits = requests.get(f"{proxy.url}{path}", headers={"Cookie": "a=" + "x" * 3000}, timeout=10)
    assert fits.status_code == 200
    assert len(backend.requests_to(path)) == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{proxy.url}{path}", headers={"Cookie": "a=" + "x" * 5000}, timeout=10)
    assert len(backend.requests_to(path)) == 1


@needs_pushpin
def test_restart_comes_back_on_the_same_ports(fresh: Callable[..., Pushpin], backend: Backend) -> None:
    pushpin = fresh()
    ports = (pushpin.http_port, pushpin.publish_port)
    before = all_pids(pushpin)

    pushpin.restart()

    assert (pushpin.http_port, pushpin.publish_port) == ports
    assert [name for name, pid in before.items() if alive(pid)] == []
    assert pushpin.pid != before["runner"]
    path = f"/{unique('again')}"
    assert requests.get(f"{pushpin.url}{path}", timeout=10).text == f"plain:{path}"
    assert requests.post(f"{pushpin.publish_url}/publish/", json={"items": []}).ok


@needs_pushpin
def test_two_instances_side_by_side_do_not_cross_talk(
    fresh: Callable[..., Pushpin],
) -> None:
    first, second = fresh(), fresh()
    assert len({first.http_port, first.publish_port, second.http_port, second.publish_port}) == 4
    assert first.rundir != second.rundir
    channel = unique("both")  # the same channel name on both
    streams = [StreamReader(p, channel) for p in (first, second)]
    try:
        for pushpin, stream in zip((first, second), streams, strict=True):
            assert stream.next_line() == "[open]"
            publish = stream_publisher(pushpin, channel)
            publish_until(lambda text, p=publish, n=pushpin.http_port: p(f"{n}-{text}"), stream.next_line)

        stream_publisher(second, channel)("only-second")
        stream_publisher(first, channel)("only-first")

        for pushpin, stream, last in zip(
            (first, second), streams, ("only-first", "only-second"), strict=True
        ):
            lines = []
            while not lines or lines[-1] != last:
                lines.append(stream.next_line())
            # Only this instance's own warm-up lines may come before its own message.
            strays = [line for line in lines[:-1] if not line.startswith(f"{pushpin.http_port}-sync-")]
            assert strays == []
    finally:
        for stream in streams:
            stream.close()


# ------------------------------------------------------------------ failure
@needs_pushpin
def test_a_crashed_service_is_reported_with_the_log(fresh: Callable[..., Pushpin]) -> None:
    pushpin = fresh()
    pids = all_pids(pushpin)
    os.kill(pids["condure"], signal.SIGKILL)  # a crash, as seen under heavy load

    with pytest.raises(PushpinError) as raised:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pushpin.assert_alive()
            time.sleep(0.02)

    assert "condure" in str(raised.value)
    assert "[condure]" in raised.value.log_tail
    pushpin.stop()
    assert [name for name, pid in pids.items() if alive(pid)] == []


@needs_pushpin
def test_services_orphaned_by_a_dead_runner_are_ended_by_their_pids(
    fresh: Callable[..., Pushpin],
) -> None:
    pushpin = fresh()
    pids = all_pids(pushpin)
    os.kill(pids["runner"], signal.SIGKILL)  # the runner alone: its services live on

    with pytest.raises(PushpinError, match=r"exited with status -9"):
        for _ in range(500):
            pushpin.assert_alive()
            time.sleep(0.01)
    assert all(alive(pids[name]) for name in harness.SERVICES)

    pushpin.stop()

    assert [name for name, pid in pids.items() if alive(pid)] == []


@needs_pushpin
def test_a_reused_workdir_ends_what_a_killed_run_left_there(backend: Backend, tmp_path: Path) -> None:
    """As after a test process was SIGKILLed: its services live on, orphaned."""
    workdir = tmp_path / "a-workdir-path-long-enough-to-need-a-short-rundir-elsewhere"
    killed = Pushpin(backend.target, sig_key=LONG_KEY, workdir=workdir).start()
    orphans = killed.child_pids
    os.kill(killed.pid or 0, signal.SIGKILL)
    assert all(alive(pid) for pid in orphans.values())

    with Pushpin(backend.target, sig_key=LONG_KEY, workdir=workdir) as again:
        assert again.rundir == killed.rundir  # found the old pid files
        assert [name for name, pid in orphans.items() if alive(pid)] == []
        path = f"/{unique('reused')}"
        assert requests.get(f"{again.url}{path}", timeout=10).text == f"plain:{path}"
    killed.stop()  # reaps the runner; nothing else of it is left
    assert (workdir / "pushpin.log").exists()  # a workdir the caller chose is kept


def test_a_pushpin_that_exits_at_start_is_reported_with_its_output(tmp_path: Path) -> None:
    fake = tmp_path / "pushpin"
    fake.write_text("#!/bin/sh\necho 'config error: something is wrong'\nexit 3\n")
    fake.chmod(0o755)
    pushpin = Pushpin("127.0.0.1:9", executable=str(fake))

    with pytest.raises(PushpinError, match="status 3") as raised:
        pushpin.start(timeout=10)

    assert "config error: something is wrong" in str(raised.value)
    assert pushpin.pid is None
    log = Path(str(raised.value.log_path))
    assert log.exists()  # kept for reading until stop(), or exit
    pushpin.stop()
    assert not log.exists()


@needs_pushpin
@pytest.mark.parametrize("taken", ["http", "publish"])
def test_a_taken_port_is_replaced_by_a_free_one(
    taken: str, fresh: Callable[..., Pushpin], monkeypatch: pytest.MonkeyPatch
) -> None:
    """condure fails loudly on a taken port; pushpin-handler says "started" anyway."""
    squatter = socket.create_server(("127.0.0.1", 0))
    busy = squatter.getsockname()[1]
    real_free_port = harness._free_port
    # _pick_ports asks for the http port first, then the publish port.
    handed = iter([busy] if taken == "http" else [real_free_port(), busy])
    monkeypatch.setattr(harness, "_free_port", lambda: next(handed, None) or real_free_port())
    try:
        pushpin = fresh()
        assert busy not in (pushpin.http_port, pushpin.publish_port)
        assert requests.post(f"{pushpin.publish_url}/publish/", json={"items": []}).ok
        assert harness._listener_owner(pushpin.child_pids["pushpin-handler"], pushpin.publish_port) == "pid"
    finally:
        squatter.close()


@needs_pushpin
def test_a_taken_port_the_caller_chose_is_an_error(backend: Backend) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        busy = squatter.getsockname()[1]
        pushpin = Pushpin(backend.target, publish_port=busy)
        with pytest.raises(PushpinError, match=f"port {busy} is used by another process"):
            pushpin.start(timeout=10)
        assert pushpin.pid is None
        pushpin.stop()


def test_missing_pushpin_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_pushpin() is None

    with pytest.raises(PushpinNotInstalled, match="apt-get update && apt-get install -y pushpin"):
        Pushpin().start()


def test_install_refuses_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness.os, "geteuid", lambda: 1000)
    with pytest.raises(PushpinNotInstalled, match="apt-get update && apt-get install -y pushpin"):
        install_pushpin()


# -------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("key", "in_url", "proxy_key"),
    [
        ("changeme", "changeme", "changeme"),
        ("base64:AAEC/w==", "base64:AAEC%2Fw%3D%3D", b"\x00\x01\x02\xff"),
        (b"\x00raw", "base64:AHJhdw%3D%3D", b"\x00raw"),
        (ODD_KEY, "base64:", ODD_KEY),
    ],
)
def test_grip_url_and_grip_proxy_describe_the_same_proxy(
    key: str | bytes, in_url: str, proxy_key: str | bytes
) -> None:
    pushpin = Pushpin(sig_key=key, sig_iss="iss one", http_port=7999, publish_port=5561)

    assert pushpin.url == "http://127.0.0.1:7999"
    assert pushpin.ws_url == "ws://127.0.0.1:7999"
    assert pushpin.grip_proxy == {
        "control_uri": "http://127.0.0.1:5561",
        "key": proxy_key,
        "control_iss": "iss one",
        "verify_iss": "iss one",
    }
    assert f"&key={in_url}" in pushpin.grip_url
    parsed = parse_grip_uri(pushpin.grip_url)
    raw = proxy_key.encode() if isinstance(proxy_key, str) else proxy_key
    assert parsed["control_uri"] == pushpin.publish_url
    assert parsed["control_iss"] == "iss one"
    assert (parsed["key"].encode() if isinstance(parsed["key"], str) else parsed["key"]) == raw


@needs_pushpin
def test_cli_runs_in_the_foreground_and_stops_on_sigterm() -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "grip_views.pushpin", "--backend", "127.0.0.1:9"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = []
        assert cli.stdout is not None
        while not lines or lines[-1] != "Ctrl-C to stop.":
            line = cli.stdout.readline()
            assert line, f"the CLI ended early: {lines}"
            lines.append(line.strip())
        runner = int(lines[0].split()[2])
        url = next(line.split()[-1] for line in lines if line.startswith("url:"))
        # The backend is down: Pushpin itself answers.
        assert requests.get(f"{url}/", headers={"Connection": "close"}, timeout=10).status_code == 502

        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=15) == 0
        assert not alive(runner)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


# ------------------------------------------------------------------ plugin
PLUGIN_TESTS = """
import pytest

def test_fast():
    pass

def test_live(grip_live):
    pass

def test_plugin_is_registered_once(request):
    plugins = request.config.pluginmanager.get_plugins()
    import grip_views.testing.pytest_plugin as module
    assert sum(plugin is module for plugin in plugins) == 1
"""


@pytest.mark.parametrize("how", ["-p", "pytest_plugins"])
def test_plugin_loads_once_beside_its_entry_point(how: str, tmp_path: Path) -> None:
    """The installed entry point plus ``-p`` (or ``pytest_plugins``) is no error,
    and ``-m "not pushpin"`` leaves out the tests that use its fixtures."""
    dist = tmp_path / "site" / "grip_views_harness_check-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: grip-views-harness-check\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\ngrip_views = grip_views.testing.pytest_plugin\n")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_sample.py").write_text(textwrap.dedent(PLUGIN_TESTS))
    args = ["-p", "grip_views.testing.pytest_plugin"]
    if how == "pytest_plugins":
        (tests / "conftest.py").write_text('pytest_plugins = ["grip_views.testing.pytest_plugin"]\n')
        args = []
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), str(REPO)])

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *args,
            "-p",
            "no:django",
            "-p",
            "no:cacheprovider",
            "-m",
            "not pushpin",
            "-v",
            "--rootdir",
            str(tests),
            str(tests),
        ],
        cwd=tests,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_fast PASSED" in done.stdout
    assert "test_plugin_is_registered_once PASSED" in done.stdout
    assert "test_live" not in done.stdout
    assert "1 deselected" in done.stdout
