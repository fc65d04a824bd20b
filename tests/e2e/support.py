"""Clients and helpers shared by the end-to-end tests."""

from __future__ import annotations

import contextlib
import http.client
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def headless_chromium(profile: Path) -> Iterator[Any]:
    """A Selenium-driven headless Chromium (Debian's chromium and chromium-driver),
    with a fresh profile in ``profile``; quit on exit. Skipped when Chromium is
    missing, except on CI (``CI=true``), where the test fails."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        message = "Chromium is not installed: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI", "").strip().lower() in ("true", "1"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        # This machine's network is closed: no QUIC, no background fetches.
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def start_uvicorn(
    port: int, env: dict[str, str], log: Path, ready_url: str, *, require_ok: bool = True
) -> subprocess.Popen[bytes]:
    """tests.asgi under uvicorn on 127.0.0.1:``port`` (output to ``log``), once
    ``ready_url`` answers (with a 2xx unless ``require_ok`` is false); stop it by
    its PID (``terminate()``/``kill()``)."""
    root = Path(__file__).resolve().parents[2]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--backlog", "2048"],
            env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            response = requests.get(ready_url, timeout=1)
            if require_ok:
                response.raise_for_status()
            return server
        except requests.RequestException:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                server.wait(10)
                raise AssertionError(f"uvicorn did not start: see {log}") from None
            time.sleep(0.05)


class StreamReader:
    """One streamed response, read line by line in a thread (None marks its end);
    close() unblocks the reader at once."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while line := self.response.readline():
                self.lines.put(line.rstrip(b"\r\n"))
        except (OSError, ValueError, http.client.HTTPException):
            pass  # closed by the test while reading
        self.lines.put(None)  # end of stream

    def next(self, timeout: float = 10) -> bytes | None:
        return self.lines.get(timeout=timeout)

    def close(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.conn.close()
