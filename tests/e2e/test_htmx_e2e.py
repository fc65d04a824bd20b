"""Live HTML end to end: the demo's /todos/ page in headless Chromium, through a
real Pushpin. Two pages follow the list; changes made in one (its htmx forms)
and through the DRF API appear in the other, also what was published while
Pushpin restarted (resumed with Last-Event-ID); a third page whose signed
stream name was altered is refused (403) and never changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from grip_views.testing.pytest_plugin import require_pushpin
from tests.e2e.support import headless_chromium
from tests.e2e.test_demo import DemoStack

pytestmark = pytest.mark.pushpin

#: Generous: two cores shared with other work; a change usually shows in milliseconds.
WAIT = 30


@pytest.fixture(scope="module")
def todo_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    require_pushpin()
    stack = DemoStack(tmp_path_factory.mktemp("htmx-demo"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    with headless_chromium(tmp_path / "profile") as driver:
        yield driver


# What the test does in the third page (the page itself has no JavaScript):
# swap its stream element for one whose signed name points at another stream,
# and count the SSE errors htmx reports for it.
TAMPER = """
const old = document.querySelector('[sse-connect]');
const url = new URL(old.getAttribute('sse-connect'), location.href);
const signature = url.searchParams.get('stream').split(':').pop();
url.searchParams.set('stream', 'other:' + signature);
const forged = old.cloneNode(false);
forged.setAttribute('sse-connect', url.pathname + url.search);
window.sseErrors = 0;
window.sseMessages = 0;
document.body.addEventListener('htmx:sseError', () => { window.sseErrors += 1; });
document.body.addEventListener('htmx:sseMessage', () => { window.sseMessages += 1; });
htmx.swap(old, forged.outerHTML, {swapStyle: 'outerHTML'});
return url.pathname + url.search;
"""


def _open(driver, url: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.switch_to.new_window("window")
    driver.get(url)
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return !!(window.htmx && htmx.createEventSource)")
    )
    driver.find_element(By.ID, "todo-list")
    return driver.current_window_handle


def test_changes_in_one_page_and_through_the_api_appear_in_the_other(todo_demo: DemoStack, browser) -> None:
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    first_tab = driver.current_window_handle
    page = f"{todo_demo.url}/todos/"
    one, two, tampered = _open(driver, page), _open(driver, page), _open(driver, page)
    forged_path = driver.execute_script(TAMPER)
    driver.switch_to.window(first_tab)
    driver.close()

    def in_page(handle, condition):
        driver.switch_to.window(handle)
        # An element htmx swaps out while the condition reads it is stale: read again.
        wait = WebDriverWait(
            driver, WAIT, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
        )
        try:
            wait.until(condition)
        except TimeoutException:
            name = {one: "page one", two: "page two", tampered: "the tampered page"}[handle]
            log = (todo_demo.tmp / "django.log").read_text(errors="replace")[-3000:]
            shown = driver.find_element(By.ID, "todo-list").text
            raise AssertionError(
                f"{name} never got there: its list reads {shown!r}; Django's log:\n{log}"
            ) from None

    def items(d):
        return d.find_elements(By.CSS_SELECTOR, "#todo-list li")

    def titles(d):
        return [li.find_element(By.CLASS_NAME, "title").text for li in items(d)]

    # The forged name is refused by the endpoint, through Pushpin, with its reason.
    refused = requests.get(f"{todo_demo.url}{forged_path}", timeout=10)
    assert refused.status_code == 403
    assert refused.text == "This stream name is not signed by this app (forged or altered).\n"
    in_page(tampered, lambda d: d.execute_script("return window.sseErrors") >= 1)

    # Create, update and delete in page one (its htmx forms): page two follows.
    in_page(one, lambda d: d.find_element(By.NAME, "title"))
    driver.find_element(By.NAME, "title").send_keys("typed in page one")
    driver.find_element(By.CSS_SELECTOR, "#todo-form button").click()
    in_page(two, lambda d: titles(d) == ["typed in page one"])
    todo_id = items(driver)[0].get_attribute("id")
    driver.switch_to.window(tampered)
    assert items(driver) == []

    in_page(one, lambda d: len(items(d)) == 1)  # the page that acted follows the stream too
    driver.find_element(By.CSS_SELECTOR, f"#{todo_id} button").click()  # "done"
    in_page(two, lambda d: d.find_element(By.ID, todo_id).get_attribute("class") == "done")

    in_page(one, lambda d: d.find_element(By.ID, todo_id).get_attribute("class") == "done")
    driver.find_elements(By.CSS_SELECTOR, f"#{todo_id} button")[1].click()  # "delete"
    in_page(two, lambda d: items(d) == [])

    # The same through the DRF API.
    api = f"{todo_demo.url}/api/todos/"
    auth = ("demo", "demo")
    created = requests.post(api, json={"title": "from the API"}, auth=auth, timeout=10)
    assert created.status_code == 201, created.text
    pk = created.json()["id"]
    in_page(two, lambda d: titles(d) == ["from the API"])
    assert requests.patch(f"{api}{pk}/", json={"title": "renamed"}, auth=auth, timeout=10).status_code == 200
    in_page(two, lambda d: titles(d) == ["renamed"])
    in_page(one, lambda d: titles(d) == ["renamed"])
    assert requests.delete(f"{api}{pk}/", auth=auth, timeout=10).status_code == 204
    in_page(two, lambda d: items(d) == [])

    # Resume: Pushpin restarts (keeping no subscription), a todo is created
    # straight at Django before the page's EventSource is back; it reconnects
    # with Last-Event-ID and gets the fragment it missed, once.
    todo_demo.pushpin.restart()
    direct = f"http://127.0.0.1:{todo_demo.django_port}/api/todos/"
    assert requests.post(direct, json={"title": "while away"}, auth=auth, timeout=10).status_code == 201
    in_page(two, lambda d: titles(d) == ["while away"])
    in_page(one, lambda d: titles(d) == ["while away"])

    # The page with the altered name got nothing of all that.
    driver.switch_to.window(tampered)
    assert items(driver) == []
    assert driver.execute_script("return window.sseMessages") == 0
    connect = driver.find_element(By.CSS_SELECTOR, "[sse-connect]").get_attribute("sse-connect")
    assert parse_qs(urlsplit(connect).query)["stream"][0].startswith("other:")
