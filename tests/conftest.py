"""Fixtures shared by grip_views' unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grip_views import testing
from grip_views.conf import grip_settings

from . import views


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    """Each test starts with an empty outbox, no recorded closes and fresh settings caches."""
    testing.outbox.clear()
    views.closes.clear()
    grip_settings.clear_cache()
    yield
    testing.outbox.clear()
    views.closes.clear()


@pytest.fixture(scope="session")
def ec_key():
    """An ES256 key pair, as Fastly Fanout signs with."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def rsa_key():
    """An RS256 key pair."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def grip_client() -> testing.GripClient:
    """Django's test client sending requests as the GRIP proxy would (signed)."""
    return testing.GripClient()


def _server_or_skip(cls):
    import os

    from .servers import ServerUnavailable

    try:
        return cls().start()
    except ServerUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL on loopback for this session (stopped by PID)."""
    from .servers import PostgresServer

    server = _server_or_skip(PostgresServer)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    """A private Redis on loopback for this session (stopped by PID)."""
    from .servers import RedisServer

    server = _server_or_skip(RedisServer)
    yield server
    server.stop()
