"""The fixtures the pytest plugin gives every grip_views user."""

import pytest
from gripcontrol import HttpStreamFormat

from grip_views import publish
from grip_views.testing import GripClient, messages_on


@pytest.fixture
def real_publisher(settings):
    settings.GRIP_PUBLISH_BACKEND = "grip_views.publishing.HttpPublisher"


def test_grip_outbox_keeps_publishes_in_memory_even_over_a_real_backend(real_publisher, grip_outbox):
    publish("room", HttpStreamFormat("hi\n"))  # the configured proxy (127.0.0.1:1) is never called
    assert messages_on("room", "http-stream") == [{"content": "hi\n"}]
    assert [item["channel"] for item in grip_outbox] == ["room"]


def test_grip_outbox_starts_empty(grip_outbox):
    assert grip_outbox == []


def test_grip_client_sends_signed_requests(grip_client):
    assert isinstance(grip_client, GripClient)
    assert grip_client.get_proxied("/feed/")["Grip-Hold"] == "stream"
