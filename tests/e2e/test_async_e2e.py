"""Async* views with async def hooks under a real ASGI server (uvicorn) behind a
real Pushpin: the hooks are awaited on the event loop, sync hooks beside them
still run where sync-only code may run."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websocket

from grip_views.pushpin import Pushpin
from grip_views.testing.pytest_plugin import require_pushpin
from tests.e2e.support import StreamReader, free_port, start_uvicorn

ROOT = Path(__file__).resolve().parents[2]
KEY = "async-e2e-key-0123456789abcdef0123456789"

pytestmark = pytest.mark.pushpin


@pytest.fixture(scope="module")
def asgi_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushpin]:
    """uvicorn serving tests.asgi behind its own Pushpin."""
    require_pushpin()
    port = free_port()
    pushpin = Pushpin(backend=f"127.0.0.1:{port}", sig_key=KEY)
    pushpin.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_asgi_e2e",
        "GRIP_E2E_PUBLISH_URL": pushpin.publish_url,
        "GRIP_E2E_KEY": KEY,
        "PYTHONPATH": str(ROOT),
    }
    try:
        # Any answer from /feed/ shows the server is up (as before: its status is not the point).
        server = start_uvicorn(
            port,
            env,
            tmp_path_factory.mktemp("asgi") / "uvicorn.log",
            f"http://127.0.0.1:{port}/feed/",
            require_ok=False,
        )
    except BaseException:
        pushpin.stop()
        raise
    try:
        yield pushpin
    finally:
        server.terminate()
        server.wait(10)
        pushpin.stop()


def _ws_url(pushpin: Pushpin, path: str) -> str:
    return pushpin.url.replace("http://", "ws://") + path


def test_async_json_socket_hooks_run_under_uvicorn(asgi_stack: Pushpin) -> None:
    ws = websocket.create_connection(_ws_url(asgi_stack, "/ws/async-json/"), timeout=10)
    ws.send('{"n": 1}')
    assert ws.recv() == '{"async":{"n":1}}'
    ws.close()


def test_async_socket_refusal_in_an_async_on_open_fails_the_handshake(asgi_stack: Pushpin) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(_ws_url(asgi_stack, "/ws/async-json/?user=mallory"), timeout=10)
    assert refused.value.status_code == 401


def test_sync_hooks_beside_async_ones_may_run_sync_only_code(asgi_stack: Pushpin) -> None:
    ws = websocket.create_connection(_ws_url(asgi_stack, "/ws/mixed/"), timeout=10)
    assert ws.recv() == "sync work done"  # on_open is sync: it ran in the sync thread
    ws.send("hi")
    assert ws.recv() == "async:hi"
    ws.close()


def test_async_stream_and_long_poll_are_held_and_woken(asgi_stack: Pushpin) -> None:
    reader = StreamReader(f"{asgi_stack.url}/async-feed/")
    try:
        assert reader.status == 200
        assert reader.next() == b"[async open]"
    finally:
        reader.close()
    now = requests.get(f"{asgi_stack.url}/async-poll/?now=1", timeout=10)
    assert now.text == "now"
    answers: list[requests.Response] = []
    poll = threading.Thread(
        target=lambda: answers.append(requests.get(f"{asgi_stack.url}/async-poll/", timeout=20))
    )
    poll.start()
    woken = {"items": [{"channel": "apoll", "formats": {"http-response": {"body": "woken"}}}]}
    deadline = time.monotonic() + 8  # the hold's timeout (10 s) would answer "nothing yet"
    while poll.is_alive() and time.monotonic() < deadline:
        # A publish reaches only a held request: repeat until the hold is in place.
        requests.post(f"{asgi_stack.publish_url}/publish/", json=woken, timeout=5).raise_for_status()
        poll.join(0.2)
    poll.join(15)
    assert [a.text for a in answers] == ["woken"]
