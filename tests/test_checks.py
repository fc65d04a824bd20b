"""System checks (grip_views.checks): each id fires, by name, only when it should."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from grip_views.checks import check_settings

KEY = "a-test-key-that-is-at-least-32-bytes-long"
NOT_A_PEM = "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n"


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def only(check_id: str):
    """The one message with ``check_id``, after asserting there is exactly one."""
    found = [m for m in check_settings() if m.id == check_id]
    assert len(found) == 1, ids(check_settings())
    return found[0]


def test_the_test_settings_pass_every_check():
    assert check_settings() == []


def test_checks_are_registered_with_django():
    with override_settings(GRIP_PREFIX="bad prefix"):
        assert "grip_views.E003" in ids(checks.run_checks(tags=[checks.Tags.compatibility]))


def test_a_wrong_setting_stops_the_check_command_naming_it():
    with (
        override_settings(GRIP_PUBLISH_TIMEOUT="soon"),
        pytest.raises(SystemCheckError, match="GRIP_PUBLISH_TIMEOUT"),
    ):
        call_command("check")


@pytest.mark.parametrize(
    ("settings", "check_id", "named"),
    [
        ({"GRIP_PROXIES": {"control_uri": "http://x"}}, "grip_views.E001", "GRIP_PROXIES"),
        ({"GRIP_PROXIES": [{"control_uri": "x"}]}, "grip_views.E001", "GRIP_PROXIES[0]"),
        ({"GRIP_URL": "127.0.0.1:5561"}, "grip_views.E001", "GRIP_URL"),
        ({"GRIP_VERIFY_KEY": ""}, "grip_views.E001", "GRIP_VERIFY_KEY"),
        ({"PUBLISH_SERVERS": "http://x"}, "grip_views.E002", "PUBLISH_SERVERS"),
        ({"PUBLISH_SERVERS": [{"iss": "x"}]}, "grip_views.E002", "PUBLISH_SERVERS[0]"),
        ({"GRIP_PREFIX": 3}, "grip_views.E003", "GRIP_PREFIX"),
        ({"GRIP_PREFIX": "my app"}, "grip_views.E003", "GRIP_PREFIX"),
        ({"GRIP_PROXY_REQUIRED": "yes"}, "grip_views.E004", "GRIP_PROXY_REQUIRED"),
        ({"GRIP_PUBLISH_TIMEOUT": 0}, "grip_views.E005", "GRIP_PUBLISH_TIMEOUT"),
        ({"GRIP_PUBLISH_QUEUE_SIZE": -1}, "grip_views.E005", "GRIP_PUBLISH_QUEUE_SIZE"),
        ({"GRIP_PUBLISH_BATCH_SIZE": "500"}, "grip_views.E005", "GRIP_PUBLISH_BATCH_SIZE"),
        ({"GRIP_PUBLISH_BACKEND": "nowhere.Publisher"}, "grip_views.E005", "GRIP_PUBLISH_BACKEND"),
        ({"GRIP_PUBLISH_ERROR_HANDLER": "nowhere.handler"}, "grip_views.E005", "GRIP_PUBLISH_ERROR_HANDLER"),
        (
            {"GRIP_WEBSOCKET_ALLOWED_ORIGINS": "https://a.example"},
            "grip_views.E006",
            "GRIP_WEBSOCKET_ALLOWED_ORIGINS",
        ),
        ({"GRIP_PROXIES": [{"verify_key": NOT_A_PEM}]}, "grip_views.E007", "GRIP_PROXIES"),
        ({"GRIP_VERIFY_KEY": NOT_A_PEM}, "grip_views.E007", "GRIP_VERIFY_KEY"),
    ],
)
def test_each_error_fires_with_a_message_naming_the_setting(settings, check_id, named):
    with override_settings(**settings):
        message = only(check_id)
    assert isinstance(message, checks.Error)
    assert named in message.msg
    assert message.hint


def test_missing_middleware_is_e008_naming_middleware():
    with override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"]):
        message = only("grip_views.E008")
    assert "MIDDLEWARE" in message.msg
    assert "grip_views.middleware.GripMiddleware" in message.hint


def test_middleware_under_another_import_path_counts_as_installed():
    with override_settings(MIDDLEWARE=["myproject.compat.GripMiddleware"]):
        assert "grip_views.E008" not in ids(check_settings())


def test_no_key_at_all_is_w001_naming_the_settings():
    with override_settings(GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:1"}]):
        message = only("grip_views.W001")
    assert isinstance(message, checks.Warning)
    assert "GRIP_PROXIES" in message.msg and "GRIP_URL" in message.msg


def test_no_key_is_not_warned_about_in_debug():
    with override_settings(GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:1"}], DEBUG=True):
        assert check_settings() == []


@pytest.mark.parametrize(
    "settings",
    [
        {"GRIP_PROXIES": [{"control_uri": "http://127.0.0.1:1", "key": "changeme"}]},
        {"GRIP_PROXIES": [], "GRIP_URL": "http://127.0.0.1:5561/?iss=pushpin&key=changeme"},
        {"GRIP_VERIFY_KEY": "short"},
    ],
)
def test_short_hs256_key_is_w002_naming_the_settings(settings):
    with override_settings(**settings):
        message = only("grip_views.W002")
    assert "GRIP_PROXIES" in message.msg
    assert "32" in message.msg


def test_short_key_is_not_warned_about_in_debug():
    with override_settings(
        GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:1", "key": "changeme"}], DEBUG=True
    ):
        assert check_settings() == []


def test_a_pem_public_key_is_not_a_short_secret():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with override_settings(GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:1", "verify_key": pem.decode()}]):
        assert check_settings() == []


@pytest.mark.parametrize(
    "settings",
    [
        {"GRIP_PROXIES": [], "GRIP_URL": f"http://127.0.0.1:5561/?iss=pushpin&key={KEY}"},
        {"GRIP_PROXIES": [{"verify_key": KEY}]},
        {"GRIP_PREFIX": "app-", "GRIP_PROXY_REQUIRED": True},
        {"PUBLISH_SERVERS": [{"uri": "http://127.0.0.1:2", "iss": "i", "key": KEY}]},
        {
            "GRIP_PUBLISH_TIMEOUT": 0.5,
            "GRIP_PUBLISH_QUEUE_SIZE": 1,
            "GRIP_PUBLISH_BATCH_SIZE": 1,
            "GRIP_PUBLISH_BACKEND": "grip_views.publishing.HttpPublisher",
            "GRIP_PUBLISH_ERROR_HANDLER": "logging.exception",
        },
        {"GRIP_WEBSOCKET_ALLOWED_ORIGINS": ["https://a.example", "*"]},
    ],
)
def test_correct_settings_raise_nothing(settings):
    with override_settings(**settings):
        assert check_settings() == []


def test_a_wrong_proxy_setting_is_reported_once_not_again_as_a_key_problem():
    with override_settings(GRIP_PROXIES="oops"):
        assert ids(check_settings()) == ["grip_views.E001"]
