"""pytest fixtures: publishes kept in memory, signed requests, and a real Pushpin.

Installed as the ``grip_views`` pytest11 entry point; without the installed
package load it with ``-p grip_views.testing.pytest_plugin`` (loading it both
ways is harmless).

Every test publishes to the in-memory outbox (like pytest-django blocks the
database), unless it asks for the live proxy (``grip_live``, ``pushpin_server``)
or is marked ``@pytest.mark.grip_real_publisher``. Fixtures:

``grip_outbox``
    The in-memory outbox (:data:`grip_views.testing.outbox`), emptied per test.
``grip_client``
    A :class:`~grip_views.testing.GripClient`: signed requests, WebSocket events.

``pushpin_server``
    A running ``Pushpin`` routed to pytest-django's ``live_server``, shared by
    the whole session (one per xdist worker) and checked alive before each
    test. Skipped when Pushpin is not installed, except on CI (``CI=true``),
    where it is installed (as root) or the test fails.
``grip_live``
    ``pushpin_server`` wired into Django's settings (``GRIP_PROXIES``), with
    the URLs a test needs, ``publish()``, ``unique_channel()``,
    ``wait_subscribed()`` and ``login_headers()``.

Tests using them are marked ``pushpin``: ``pytest -m "not pushpin"`` runs the
fast tests only. Nothing here imports Django until a fixture runs.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from grip_views.pushpin import (
    INSTALL_COMMAND,
    Pushpin,
    PushpinError,
    PushpinNotInstalled,
    find_pushpin,
    install_pushpin,
)

from .stats import PushpinStats, PushpinStatsError

__all__ = ["PUSHPIN_FIXTURES", "REAL_PUBLISHER_MARK", "SIG_ISS", "SIG_KEY", "GripLive"]

# The key and issuer the session's Pushpin signs requests with (HS256 wants
# 32 bytes or more, or PyJWT warns).
SIG_KEY = "grip-views-pytest-plugin-test-key-0123456789"
SIG_ISS = "pushpin"

# Tests requesting any of these get the ``pushpin`` marker, and publish for real.
PUSHPIN_FIXTURES = frozenset({"pushpin_session", "pushpin_server", "grip_live"})

# A test marked so publishes where the settings say, not to the in-memory outbox.
REAL_PUBLISHER_MARK = "grip_real_publisher"

_IN_MEMORY = "grip_views.testing.InMemoryPublisher"

# The names this module is registered under: the entry point, or ``-p module``.
_PLUGIN_NAMES = ("grip_views", __name__)


def pytest_plugin_registered(
    plugin: object, plugin_name: str | None, manager: pytest.PytestPluginManager
) -> None:
    """Once registered under one name, block the other so a second load is skipped.

    ``-p grip_views.testing.pytest_plugin`` plus the installed entry point
    would otherwise register this module twice, which pluggy refuses.
    """
    if plugin is not sys.modules[__name__]:
        return
    for name in _PLUGIN_NAMES:
        if name != plugin_name and manager.get_plugin(name) is None:
            manager.set_blocked(name)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``pushpin`` and ``grip_real_publisher`` markers."""
    config.addinivalue_line("markers", "pushpin: needs a real Pushpin proxy (deselect with -m 'not pushpin')")
    config.addinivalue_line(
        "markers",
        f"{REAL_PUBLISHER_MARK}: publish with the configured GRIP_PUBLISH_BACKEND, not the in-memory outbox",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a Pushpin fixture; runs before ``-m`` deselects."""
    for item in items:
        if PUSHPIN_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pushpin)


@dataclass
class GripLive:
    """What an end-to-end test needs: client URLs, the proxy, and publishing.

    ``url``/``ws_url`` reach the Django live server through Pushpin;
    ``backend_url`` reaches it directly (no GRIP processing).
    """

    pushpin: Pushpin
    backend_url: str
    #: Pushpin's subscriptions as it reports them (None if they cannot be read).
    stats: PushpinStats | None = None
    stats_error: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Base URL of the proxy, e.g. ``http://127.0.0.1:PORT``."""
        return self.pushpin.url

    @property
    def ws_url(self) -> str:
        """Base WebSocket URL of the proxy, e.g. ``ws://127.0.0.1:PORT``."""
        return self.pushpin.ws_url

    def publish(self, channel: str, formats: Any, **options: Any) -> Any:
        """:func:`grip_views.publish` (so through ``GRIP_PROXIES``), with its options."""
        import grip_views

        return grip_views.publish(channel, formats, **options)

    def unique_channel(self, prefix: str = "t") -> str:
        """A channel name no other test uses (Pushpin remembers ids per channel)."""
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def wait_subscribed(
        self, channel: Any, timeout: float = 5.0, *, subscribers: int = 1, mode: str | None = None
    ) -> int:
        """Block until Pushpin holds ``subscribers`` clients on ``channel``; then a
        publish reaches them. Use it between opening a client and publishing.

        ``channel`` is your code's name (``GRIP_PREFIX`` is added; the prefixed
        name works too). ``mode``: ``"stream"`` (streams, SSE), ``"response"``
        (long-polls), ``"ws"``, or None for any. Returns the number Pushpin
        reported; raises ``TimeoutError`` with what it reported instead. Read
        from Pushpin's own stats (see :mod:`grip_views.testing.stats`), so a
        channel long-polled earlier counts for 60 s more: use unique channels.
        """
        return self._stats().wait_subscribed(
            self._proxy_names(channel), timeout, subscribers=subscribers, mode=mode
        )

    def wait_unsubscribed(self, channel: Any, timeout: float = 5.0, *, mode: str | None = None) -> None:
        """Block until Pushpin holds no client on ``channel`` (long-polls: 60 s after the last)."""
        self._stats().wait_unsubscribed(self._proxy_names(channel), timeout, mode=mode)

    def login_headers(self, user: Any, backend: str | None = None) -> dict[str, str]:
        """Headers that make a real client (``requests``, websocket-client, an
        SSE reader) logged in as ``user``: a session cookie made with Django's
        ``Client.force_login``. Pushpin passes the client's ``Cookie`` to
        Django with every request, WebSocket events included, so
        ``self.request.user`` is ``user`` in every hook.
        """
        from django.conf import settings
        from django.test import Client

        client = Client()
        client.force_login(user, backend=backend)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        return {"Cookie": f"{cookie.key}={cookie.value}"}

    def _stats(self) -> PushpinStats:
        if self.stats is None:
            raise PushpinStatsError(self.stats_error or "Pushpin's stats are not being read")
        return self.stats

    def _proxy_names(self, channel: Any) -> tuple[str, ...]:
        from .memory import proxy_channels

        return proxy_channels(channel)


@pytest.fixture(scope="session")
def pushpin_session(live_server: Any) -> Iterator[Pushpin]:
    """The session's Pushpin, routed to ``live_server``; prefer ``pushpin_server``.

    Session scoped and not checked before each test: for other session- or
    module-scoped fixtures.
    """
    pushpin = Pushpin(
        _backend_of(live_server.url),
        sig_key=SIG_KEY,
        sig_iss=SIG_ISS,
        executable=require_pushpin(),
    )
    try:
        yield pushpin.start()
    finally:
        _close_stats(pushpin)
        pushpin.stop()


@pytest.fixture
def pushpin_server(pushpin_session: Pushpin) -> Pushpin:
    """The session's running Pushpin, checked alive before the test gets it.

    If an earlier test stopped it, it is started again on the same ports. If it
    died, it is restarted for the tests after, and this test errors with the
    dead instance's log.
    """
    if pushpin_session.running:
        return pushpin_session
    if pushpin_session.pid is None:
        return pushpin_session.restart()
    try:
        pushpin_session.assert_alive()
    except PushpinError:
        pushpin_session.restart()
        raise
    return pushpin_session


@pytest.fixture
def grip_live(pushpin_server: Pushpin, live_server: Any, settings: Any) -> GripLive:
    """Point Django at ``pushpin_server`` for one test.

    Sets ``GRIP_PROXIES`` to this Pushpin and ``GRIP_URL`` to None, drops an
    in-memory ``GRIP_PUBLISH_BACKEND`` (publishes must reach Pushpin), and lets
    ``127.0.0.1`` through ``ALLOWED_HOSTS``: Pushpin passes the client's Host
    header on, and clients reach the proxy at 127.0.0.1.
    """
    settings.GRIP_PROXIES = [pushpin_server.grip_proxy]
    settings.GRIP_URL = None
    backend = getattr(settings, "GRIP_PUBLISH_BACKEND", None)
    if backend is not None and "InMemoryPublisher" in getattr(backend, "__name__", str(backend)):
        del settings.GRIP_PUBLISH_BACKEND
    allowed: Sequence[str] = settings.ALLOWED_HOSTS
    if "*" not in allowed and "127.0.0.1" not in allowed:
        settings.ALLOWED_HOSTS = [*allowed, "127.0.0.1"]
    stats, error = _stats_of(pushpin_server)
    return GripLive(pushpin=pushpin_server, backend_url=live_server.url, stats=stats, stats_error=error)


@pytest.fixture(autouse=True)
def _grip_publish_in_memory(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test publishes to the in-memory outbox, not to a real proxy.

    Like pytest-django's database blocking: a test that forgot ``grip_outbox``
    must not reach the ``GRIP_URL`` of the settings. Durable events are sent
    by the thread that committed (``GRIP_OUTBOX_THREAD = False``), so they are
    in the outbox when the commit returns, and no sender thread touches the
    test database behind the test's back. Tests using the live proxy
    (``grip_live``, ``pushpin_server``), marked ``grip_real_publisher``, or run
    without Django settings are left alone. The outbox is emptied before and
    after.
    """
    if PUSHPIN_FIXTURES.intersection(request.fixturenames) or request.node.get_closest_marker(
        REAL_PUBLISHER_MARK
    ):
        yield
        return
    try:
        from django.conf import settings

        configured = settings.configured
    except ImportError:
        configured = False
    if not configured:
        yield
        return
    from django.test import override_settings

    from grip_views import testing

    testing.outbox.clear()
    with override_settings(GRIP_PUBLISH_BACKEND=_IN_MEMORY, GRIP_OUTBOX_THREAD=False):
        yield
    testing.outbox.clear()


@pytest.fixture
def grip_outbox(settings: Any) -> Iterator[list[dict[str, Any]]]:
    """Publishes kept in memory for this test, like Django's ``mail.outbox``.

    Sets ``GRIP_PUBLISH_BACKEND`` to :class:`grip_views.testing.InMemoryPublisher`
    (and ``GRIP_OUTBOX_THREAD = False``: a durable event is there once its
    commit returns) and yields :data:`grip_views.testing.outbox`, emptied
    before and after. Each
    item is what a proxy would receive: ``{"channel", "formats", "id"...}``
    (``grip_views.testing.messages_on(channel, format)`` filters it). Every
    test publishes there already; this fixture hands over the list, and wins
    over a ``settings.GRIP_PUBLISH_BACKEND`` set by a fixture it comes after.
    """
    from grip_views import testing

    settings.GRIP_PUBLISH_BACKEND = _IN_MEMORY
    settings.GRIP_OUTBOX_THREAD = False
    testing.outbox.clear()
    yield testing.outbox
    testing.outbox.clear()


@pytest.fixture
def grip_client() -> Any:
    """Django's test client sending requests as the GRIP proxy would (signed with
    the configured key; ``websocket()`` posts WebSocket-over-HTTP events)."""
    from grip_views.testing import GripClient

    return GripClient()


# The stats reader of each session Pushpin, with the pid it was started for.
_STATS: dict[int, tuple[int | None, PushpinStats | None, str | None]] = {}


def _stats_of(pushpin: Pushpin) -> tuple[PushpinStats | None, str | None]:
    """A running stats reader for ``pushpin``, started again if Pushpin was
    restarted; or the reason it cannot be read (raised by ``wait_subscribed``)."""
    pid, stats, error = _STATS.get(id(pushpin), (None, None, None))
    if pid == pushpin.pid and (error is not None or (stats is not None and stats.running)):
        return stats, error
    _close_stats(pushpin)
    try:
        stats, error = PushpinStats.of(pushpin).start(), None
    except PushpinStatsError as exc:
        stats, error = None, str(exc)
    _STATS[id(pushpin)] = (pushpin.pid, stats, error)
    return stats, error


def _close_stats(pushpin: Pushpin) -> None:
    _, stats, _ = _STATS.pop(id(pushpin), (None, None, None))
    if stats is not None:
        stats.close()


def require_pushpin() -> str:
    """Pushpin's path, for a test or fixture that starts a Pushpin of its own.

    When it is missing the test is skipped, except on CI (``CI=true``), where
    Pushpin is installed with apt-get or the test fails: CI never skips it."""
    path = find_pushpin()
    if path is not None:
        return path
    if os.environ.get("CI", "").strip().lower() in ("true", "1"):
        try:
            return install_pushpin()
        except PushpinNotInstalled as exc:
            pytest.fail(str(exc), pytrace=False)
    pytest.skip(f"Pushpin is not installed: {INSTALL_COMMAND}")


def _backend_of(url: str) -> str:
    """``host:port`` of the live server; "localhost" (its default) and 0.0.0.0 become 127.0.0.1."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        unspecified = False
    if host == "localhost" or unspecified:
        host = "127.0.0.1"
    if parts.port is None:
        raise PushpinError(f"live_server.url {url!r} has no port")
    return f"{host}:{parts.port}"
