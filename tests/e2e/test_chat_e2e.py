"""The demo's chat room (demo/demo/chat.py) through a real Pushpin: clients of the
``websockets`` package, and two pages of a headless Chromium."""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from grip_views.testing.pytest_plugin import require_pushpin
from grip_views.testing.stats import PushpinStats
from tests.e2e.support import headless_chromium
from tests.e2e.test_demo import DemoStack

pytestmark = pytest.mark.pushpin


class Chat:
    """The demo behind Pushpin, Pushpin's report of who is subscribed where, and
    the clients of one test (closed at its end)."""

    def __init__(self, stack: DemoStack, stats: PushpinStats, clients: contextlib.ExitStack) -> None:
        self.stack = stack
        self.stats = stats
        self.clients = clients

    def connect(self, room: str, name: str) -> ClientConnection:
        url = f"{self.stack.pushpin.ws_url}/chat/{room}/socket/?name={name}"
        return self.clients.enter_context(connect(url, open_timeout=10))

    def join(self, room: str, name: str, subscribers: int = 1) -> ClientConnection:
        """A client in ``room``, once it got its own join and Pushpin holds it on the room."""
        ws = self.connect(room, name)
        assert receive(ws) == {"type": "join", "name": name}
        self.stats.wait_subscribed(f"chat-{room}", 10, subscribers=subscribers, mode="ws")
        return ws


def receive(ws: ClientConnection) -> Any:
    """The next chat message (who-is-online messages, ``{"event": ...}``, are skipped)."""
    while "event" in (message := json.loads(ws.recv(timeout=10))):
        pass
    return message


def say(ws: ClientConnection, text: str) -> None:
    ws.send(json.dumps({"type": "say", "text": text}))


@pytest.fixture(scope="module")
def chat_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoStack, PushpinStats]]:
    """The demo as shipped (runserver, DEBUG off) behind its own Pushpin, for this module."""
    require_pushpin()
    stack = DemoStack(tmp_path_factory.mktemp("chat"))
    try:
        stack.start()
        with PushpinStats.of(stack.pushpin).start() as stats:
            yield stack, stats
    finally:
        stack.stop()


@pytest.fixture
def chat(chat_stack: tuple[DemoStack, PushpinStats]) -> Iterator[Chat]:
    with contextlib.ExitStack() as clients:
        yield Chat(*chat_stack, clients)


def a_room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


def test_three_clients_see_joins_says_typing_to_the_others_and_leaves(chat: Chat) -> None:
    room, other_room = a_room(), a_room()
    ann = chat.join(room, "ann")
    bob = chat.join(room, "bob", subscribers=2)
    assert receive(ann) == {"type": "join", "name": "bob"}
    cid = chat.join(room, "cid", subscribers=3)
    assert receive(ann) == receive(bob) == {"type": "join", "name": "cid"}
    dan = chat.join(other_room, "dan")

    bob.send(json.dumps({"type": "typing"}))
    say(bob, "hi all")
    typing, said = {"type": "typing", "name": "bob"}, {"type": "say", "name": "bob", "text": "hi all"}
    assert [receive(ann), receive(ann)] == [typing, said]
    assert [receive(cid), receive(cid)] == [typing, said]
    assert receive(bob) == said  # its own say, but not its typing, which was published first

    cid.close()  # with a close frame
    assert receive(ann) == receive(bob) == {"type": "leave", "name": "cid"}
    bob.socket.shutdown(socket.SHUT_RDWR)  # dropped: no close frame (Pushpin sends DISCONNECT)
    assert receive(ann) == {"type": "leave", "name": "bob"}

    # The other room heard none of it, and hears its own.
    say(dan, "anyone?")
    assert receive(dan) == {"type": "say", "name": "dan", "text": "anyone?"}
    say(ann, "bye")
    assert receive(ann) == {"type": "say", "name": "ann", "text": "bye"}


def test_bad_input_gets_a_reason_through_pushpin(chat: Chat) -> None:
    with pytest.raises(InvalidStatus) as refused:
        chat.connect(a_room(), "no%20spaces")
    response = refused.value.response
    assert (response.status_code, response.body) == (
        400,
        b"Choose a name of 1-20 letters, digits, '-' or '_': ?name=<name>.\n",
    )

    room = a_room()
    ann = chat.join(room, "ann")
    ann.send("{not json")
    ann.send(json.dumps({"type": "shout"}))
    say(ann, "x" * 501)
    say(ann, "still here")
    # Errors come in the answer to the proxy's request, a say when it is published (which may
    # be first, when the proxy sent the frames in one request): only each kind keeps its order.
    got = [receive(ann) for _ in range(4)]
    errors = [m["error"] for m in got if "error" in m]
    assert errors[0].startswith("invalid JSON: ")
    assert errors[1].startswith("Unknown message type 'shout': ")
    assert errors[2:] == ["A say is at most 500 characters, not 501."]
    assert {"type": "say", "name": "ann", "text": "still here"} in got  # the socket is still open


def test_two_pages_chat_in_a_browser(chat: Chat, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    room = a_room()

    def text_of(element_id: str) -> str:
        return str(browser.find_element(By.ID, element_id).text)

    def join(name: str, subscribers: int) -> None:
        browser.get(f"{chat.stack.url}/chat/{room}/")
        browser.find_element(By.ID, "name").send_keys(name)
        browser.find_element(By.CSS_SELECTOR, "#join button").click()
        wait.until(lambda _: text_of("state") == f"joined as {name}")
        chat.stats.wait_subscribed(f"chat-{room}", 10, subscribers=subscribers, mode="ws")

    with headless_chromium(tmp_path / "profile") as browser:
        wait = WebDriverWait(browser, 20)
        join("ann", 1)
        ann = browser.current_window_handle
        browser.switch_to.new_window("window")
        join("bob", 2)
        bob = browser.current_window_handle
        browser.find_element(By.ID, "text").send_keys("hello")

        browser.switch_to.window(ann)
        wait.until(lambda _: text_of("typing") == "bob is typing…")
        assert text_of("log").splitlines() == ["ann joined", "bob joined"]

        browser.switch_to.window(bob)
        browser.find_element(By.CSS_SELECTOR, "#say button").click()
        wait.until(lambda _: "bob: hello" in text_of("log"))
        assert text_of("log").splitlines() == ["bob joined", "bob: hello"]
        assert text_of("typing") == ""  # its own typing went to the others only
        browser.close()

        browser.switch_to.window(ann)
        wait.until(lambda _: text_of("log").endswith("bob left"))
        assert text_of("log").splitlines() == ["ann joined", "bob joined", "bob: hello", "bob left"]


def test_two_browsers_see_each_other_come_online_and_go_when_the_page_closes(
    chat: Chat, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    room = a_room()

    def open_page(browser: Any, name: str) -> None:
        browser.get(f"{chat.stack.url}/chat/{room}/")
        browser.find_element(By.ID, "name").send_keys(name)
        browser.find_element(By.CSS_SELECTOR, "#join button").click()

    def online(browser: Any) -> str:
        return str(browser.find_element(By.ID, "online").text)

    def close_page(browser: Any) -> None:
        """Close the chat's tab (the browser goes on in a new one)."""
        chat_tab = browser.current_window_handle
        browser.switch_to.new_window("tab")
        blank = browser.current_window_handle
        browser.switch_to.window(chat_tab)
        browser.close()
        browser.switch_to.window(blank)

    with headless_chromium(tmp_path / "ann") as ann, headless_chromium(tmp_path / "bob") as bob:
        open_page(ann, "ann")
        WebDriverWait(ann, 20).until(lambda b: online(b) == "ann")
        open_page(bob, "bob")
        WebDriverWait(bob, 20).until(lambda b: online(b) == "ann, bob")  # ann was there
        WebDriverWait(ann, 20).until(lambda b: online(b) == "ann, bob")  # bob joined
        close_page(bob)
        WebDriverWait(ann, 20).until(lambda b: online(b) == "ann")
        open_page(bob, "bob")
        WebDriverWait(ann, 20).until(lambda b: online(b) == "ann, bob")
        close_page(ann)
        WebDriverWait(bob, 20).until(lambda b: online(b) == "bob")
