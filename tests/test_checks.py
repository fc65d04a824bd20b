"""System checks (grip_views.checks): each id fires, by name, only when it should."""

from __future__ import annotations

import base64

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from grip_views.checks import check_security, check_settings

KEY = "a-test-key-that-is-at-least-32-bytes-long"
NOT_A_PEM = "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n"
BAD_EC_JWK = {"kty": "EC", "crv": "P-256", "x": "bm90IGEgcG9pbnQ", "y": "bm90IGEgcG9pbnQ"}


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


# The whole check framework runs: Django 6 checks the history model's JSONField
# against the database.
@pytest.mark.django_db
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
        ({"GRIP_CONNECTION_SUBSCRIPTION_MAX": 0}, "grip_views.E012", "GRIP_CONNECTION_SUBSCRIPTION_MAX"),
        ({"GRIP_PROXIES": [{"verify_key": NOT_A_PEM}]}, "grip_views.E007", "GRIP_PROXIES"),
        ({"GRIP_VERIFY_KEY": NOT_A_PEM}, "grip_views.E007", "GRIP_VERIFY_KEY"),
        ({"GRIP_PROXIES": [{"verify_key": '{"kty": "EC", "x": '}]}, "grip_views.E007", "GRIP_PROXIES[0]"),
        ({"GRIP_PROXIES": [{"verify_key": {"not": "a jwk"}}]}, "grip_views.E007", "GRIP_PROXIES[0]"),
        ({"GRIP_PROXIES": [{"verify_key": BAD_EC_JWK}]}, "grip_views.E007", "GRIP_PROXIES[0]['verify_key']"),
        ({"GRIP_PROXIES": [{"verify_key": {"kty": "oct", "k": "c2VjcmV0"}}]}, "grip_views.E007", "oct"),
        ({"GRIP_PROXIES": [{"verify_key": {"kty": "EC", "x": object()}}]}, "grip_views.E007", "GRIP_PROXIES"),
        ({"GRIP_VERIFY_KEY": {"kty": "RSA", "n": "x"}}, "grip_views.E007", "GRIP_VERIFY_KEY"),
        (
            {"GRIP_URL": "http://127.0.0.1:5561/?verify-key=%7Bnope"},
            "grip_views.E007",
            "GRIP_URL verify-key=",
        ),
        (
            {
                "GRIP_URL": "http://127.0.0.1:5561/?verify-key=base64:"
                + base64.b64encode(NOT_A_PEM.encode()).decode()
            },
            "grip_views.E007",
            "GRIP_URL verify-key=",
        ),
    ],
)
def test_each_error_fires_with_a_message_naming_the_setting(settings, check_id, named):
    with override_settings(**settings):
        message = only(check_id)
    assert isinstance(message, checks.Error)
    assert named in message.msg
    assert message.hint


def test_a_bad_verify_key_hint_says_which_forms_are_accepted():
    with override_settings(GRIP_PROXIES=[{"verify_key": BAD_EC_JWK}]):
        message = only("grip_views.E007")
    assert "JWK" in message.hint and "PEM" in message.hint and "base64:" in message.hint
    assert "x" in message.msg and "y" in message.msg  # what the JWK lacks


def test_missing_middleware_is_e008_naming_middleware():
    with override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"]):
        message = only("grip_views.E008")
    assert "MIDDLEWARE" in message.msg
    assert "grip_views.middleware.GripMiddleware" in message.hint


def test_middleware_under_another_import_path_counts_as_installed():
    with override_settings(MIDDLEWARE=["myproject.compat.GripMiddleware"]):
        assert "grip_views.E008" not in ids(check_settings())


def security(check_id: str):
    """The one deployment-check message with ``check_id``."""
    found = [m for m in check_security() if m.id == check_id]
    assert len(found) == 1, ids(check_security())
    return found[0]


def test_no_key_at_all_is_w001_naming_the_settings():
    with override_settings(GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:1"}]):
        message = security("grip_views.W001")
    assert isinstance(message, checks.Warning)
    assert "GRIP_PROXIES" in message.msg and "GRIP_URL" in message.msg


# The whole check framework runs: Django 6 checks the history model's JSONField
# against the database.
@pytest.mark.django_db
def test_security_warnings_are_deploy_checks_tagged_security():
    unsigned = [
        {"control_uri": "http://127.0.0.1:1", "key": "changeme"},
        {"control_uri": "http://127.0.0.1:2"},
    ]
    with override_settings(GRIP_PROXIES=unsigned):
        deploy = ids(checks.run_checks(include_deployment_checks=True))
        normal = ids(checks.run_checks())
        tagged = ids(checks.run_checks(tags=[checks.Tags.security], include_deployment_checks=True))
    assert "grip_views.W002" in deploy and "grip_views.W002" in tagged
    assert "grip_views.W002" not in normal and "grip_views.W001" not in normal
    assert ids(check_settings()) == []  # the normal check has nothing to say about keys


@pytest.mark.parametrize("debug", [True, False])
def test_security_warnings_do_not_depend_on_debug(debug):
    with override_settings(GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:1"}], DEBUG=debug):
        assert ids(check_security()) == ["grip_views.W001"]


# The whole check framework runs: Django 6 checks the history model's JSONField
# against the database.
@pytest.mark.django_db
def test_check_deploy_shows_the_security_warnings_and_check_does_not(capsys):
    with override_settings(GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:1", "key": "changeme"}]):
        call_command("check")
        assert "grip_views.W002" not in capsys.readouterr().err
        call_command("check", "--deploy")
        assert "grip_views.W002" in capsys.readouterr().err


# The whole check framework runs: Django 6 checks the history model's JSONField
# against the database.
@pytest.mark.django_db
def test_errors_stay_errors_under_the_normal_check():
    with override_settings(GRIP_PROXIES=[{"verify_key": NOT_A_PEM}]):
        assert "grip_views.E007" in ids(checks.run_checks())
        assert check_security() == []  # reported once, by the normal check


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
        message = security("grip_views.W002")
    assert "GRIP_PROXIES" in message.msg
    assert "32" in message.msg


def test_no_proxy_at_all_is_w003_saying_nothing_is_held():
    with override_settings(GRIP_PROXIES=[], GRIP_URL=None):
        message = only("grip_views.W003")
        assert check_security() == []  # nothing is proxied: nobody can pose as a proxy
    assert "GRIP_PROXIES" in message.msg and "GRIP_URL" in message.hint


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"GRIP_PROXIES": [], "GRIP_URL": f"http://u:p@127.0.0.1:5561/?iss=pushpin&key={KEY}"}, "GRIP_URL"),
        ({"GRIP_PROXIES": [{"control_uri": "http://u:p@127.0.0.1:1", "key": KEY}]}, "GRIP_PROXIES[0]"),
        ({"PUBLISH_SERVERS": [{"uri": "http://u:p@127.0.0.1:2", "key": KEY}]}, "PUBLISH_SERVERS[0]"),
    ],
)
def test_credentials_beside_a_key_are_w004_saying_the_key_is_sent(settings, named):
    with override_settings(**settings):
        message = only("grip_views.W004")
    assert named in message.msg and "Bearer" in message.msg
    assert ":p@" not in message.msg


def test_credentials_without_a_key_are_fine():
    with override_settings(PUBLISH_SERVERS=[{"uri": "http://u:p@127.0.0.1:2"}]):
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
