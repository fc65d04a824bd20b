"""Every grip_views setting (grip_views.conf): defaults, shapes, live changes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import jwt
import pytest
from django.conf import settings
from django.test import override_settings

from grip_views import publishing
from grip_views.conf import Proxy, grip_settings, parse_grip_url
from grip_views.exceptions import GripConfigurationError
from grip_views.publishing import HttpPublisher
from grip_views.testing import grip_sig

KEY = "a-test-key-that-is-at-least-32-bytes-long"
ALL_SETTINGS = (
    "GRIP_PROXIES",
    "GRIP_URL",
    "GRIP_VERIFY_KEY",
    "GRIP_PROXY_REQUIRED",
    "GRIP_PREFIX",
    "PUBLISH_SERVERS",
    "GRIP_PUBLISH_BACKEND",
    "GRIP_PUBLISH_TIMEOUT",
    "GRIP_PUBLISH_QUEUE_SIZE",
    "GRIP_PUBLISH_BATCH_SIZE",
    "GRIP_PUBLISH_ERROR_HANDLER",
    "GRIP_WEBSOCKET_ALLOWED_ORIGINS",
)


def handler(failure: object) -> None:
    """A GRIP_PUBLISH_ERROR_HANDLER that can be named by its dotted path."""


@pytest.fixture
def no_grip_settings() -> Iterator[None]:
    """A project that sets none of the GRIP settings."""
    with override_settings():
        for name in ALL_SETTINGS:
            if hasattr(settings, name):
                delattr(settings, name)
        grip_settings.clear_cache()
        yield
    grip_settings.clear_cache()  # deleting a setting sends no setting_changed
    publishing.reset_publisher()


# -- defaults -----------------------------------------------------------------------------------
def test_every_setting_has_a_default(no_grip_settings):
    assert grip_settings.proxies == ()
    assert grip_settings.verify_keys == ()
    assert grip_settings.verifier.required is False
    assert grip_settings.publish_servers == ()
    assert grip_settings.proxy_required is False
    assert grip_settings.prefix == ""
    assert grip_settings.publish_timeout == 5.0
    assert grip_settings.publish_queue_size == 10_000
    assert grip_settings.publish_batch_size == 500
    assert grip_settings.publish_backend is HttpPublisher
    assert grip_settings.publish_error_handler is None
    assert grip_settings.websocket_allowed_origins is None


def test_default_publisher_is_built_from_the_defaults(no_grip_settings):
    publishing.reset_publisher()
    pub = publishing.get_publisher()
    assert isinstance(pub, HttpPublisher)
    assert (pub.timeout, pub.batch_size, pub.servers) == (5.0, 500, [])


# -- GRIP_PROXIES ---------------------------------------------------------------------------------
def test_grip_proxies_are_read_with_every_key():
    entry = {
        "control_uri": "http://127.0.0.1:5561/",
        "control_iss": "pushpin",
        "key": KEY,
        "verify_iss": "pp",
        "verify_key": "verify-" + KEY,
    }
    with override_settings(GRIP_PROXIES=[entry]):
        (proxy,) = grip_settings.proxies
    assert proxy == Proxy("http://127.0.0.1:5561", "pushpin", KEY, "pp", "verify-" + KEY)
    assert proxy.signing_key == "verify-" + KEY


def test_proxy_signing_key_falls_back_to_key():
    assert Proxy(key="k").signing_key == "k"
    assert Proxy(key="k", verify_key="v").signing_key == "v"


def test_proxy_with_only_a_verify_key_is_accepted_and_not_published_to():
    with override_settings(GRIP_PROXIES=[{"verify_key": KEY}]):
        assert grip_settings.proxies == (Proxy(verify_key=KEY),)
        assert grip_settings.verify_keys == ((KEY, None),)
        assert grip_settings.publish_servers == ()


def test_reading_proxies_never_changes_the_setting():
    entries = [{"control_uri": "http://127.0.0.1:5561", "key": KEY}]
    with override_settings(GRIP_PROXIES=entries, GRIP_URL="http://127.0.0.1:7999/?key=" + KEY):
        for _ in range(3):
            grip_settings.clear_cache()
            assert len(grip_settings.proxies) == 2
        assert entries == [{"control_uri": "http://127.0.0.1:5561", "key": KEY}]
        assert settings.GRIP_PROXIES is entries


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"control_uri": "x"}, r"GRIP_PROXIES must be a list"),
        (["http://x"], r"GRIP_PROXIES\[0\] must be a dict"),
        ([{"uri": "http://x"}], r"GRIP_PROXIES\[0\] has unknown key\(s\) \['uri'\]"),
        ([{"control_uri": "127.0.0.1:5561"}], r"GRIP_PROXIES\[0\]\['control_uri'\] must be an http\(s\) URL"),
        ([{"control_uri": "http://x", "key": ""}], r"GRIP_PROXIES\[0\]\['key'\] must be a non-empty"),
        ([{"verify_key": 42}], r"GRIP_PROXIES\[0\]\['verify_key'\] must be a non-empty"),
        (
            [{"control_uri": "http://x", "control_iss": 1}],
            r"GRIP_PROXIES\[0\]\['control_iss'\] must be a string",
        ),
        ([{"control_iss": "pushpin"}], r"GRIP_PROXIES\[0\] needs a 'control_uri'"),
    ],
)
def test_grip_proxies_of_the_wrong_shape_fail_with_a_message_naming_them(value, match):
    with override_settings(GRIP_PROXIES=value), pytest.raises(GripConfigurationError, match=match):
        grip_settings.proxies  # noqa: B018


# -- GRIP_URL -----------------------------------------------------------------------------------------
def test_grip_url_is_parsed_like_gripcontrol():
    assert parse_grip_url("http://127.0.0.1:5561/?iss=pushpin&key=changeme") == {
        "control_uri": "http://127.0.0.1:5561",
        "control_iss": "pushpin",
        "key": "changeme",
    }


def test_grip_url_base64_keys_are_decoded_to_bytes():
    raw = b"\x00binary+/key\xff"
    encoded = base64.b64encode(raw).decode()
    parsed = parse_grip_url(f"https://proxy.example/grip/?key=base64:{encoded}&verify-key=base64:{encoded}")
    assert parsed["key"] == raw
    assert parsed["verify_key"] == raw
    assert parsed["control_uri"] == "https://proxy.example/grip"


def test_grip_url_keeps_other_query_parameters_and_reads_verify_iss():
    parsed = parse_grip_url("http://127.0.0.1:5561/?iss=a&verify-iss=b&key=k&tenant=t")
    assert parsed["control_uri"] == "http://127.0.0.1:5561?tenant=t"
    assert parsed["verify_iss"] == "b"


def test_grip_url_becomes_one_proxy_beside_grip_proxies():
    entry = {"control_uri": "http://127.0.0.1:1", "key": KEY}
    with override_settings(GRIP_PROXIES=[entry], GRIP_URL="http://127.0.0.1:5561/?iss=pushpin&key=" + KEY):
        assert [p.control_uri for p in grip_settings.proxies] == [
            "http://127.0.0.1:1",
            "http://127.0.0.1:5561",
        ]
        assert grip_settings.proxies[1].control_iss == "pushpin"


def test_grip_url_with_a_base64_key_verifies_with_the_decoded_bytes():
    encoded = base64.b64encode(KEY.encode()).decode()
    with override_settings(
        GRIP_PROXIES=[], GRIP_URL=f"http://127.0.0.1:5561/?iss=pushpin&key=base64:{encoded}"
    ):
        assert grip_settings.verify_keys == ((KEY.encode(), None),)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("127.0.0.1:5561", "GRIP_URL must be an http"),
        ("ftp://127.0.0.1/?key=x", "GRIP_URL must be an http"),
        ("http://127.0.0.1:5561/?key=base64:abc", "GRIP_URL could not be parsed"),
        (42, "GRIP_URL must be a non-empty string"),
    ],
)
def test_bad_grip_url_fails_with_a_message_naming_it(url, match):
    with override_settings(GRIP_URL=url), pytest.raises(GripConfigurationError, match=match):
        grip_settings.proxies  # noqa: B018


def test_bad_grip_url_error_does_not_show_the_key():
    with override_settings(GRIP_URL="ftp://127.0.0.1/?iss=pushpin&key=top-secret"):
        with pytest.raises(GripConfigurationError) as info:
            grip_settings.proxies  # noqa: B018
    assert "top-secret" not in str(info.value)


# -- GRIP_VERIFY_KEY ---------------------------------------------------------------------------------
def test_grip_verify_key_applies_to_proxies_without_their_own():
    proxies = [
        {"control_uri": "http://127.0.0.1:1", "key": "publish-" + KEY},
        {"control_uri": "http://127.0.0.1:2", "verify_key": "own-" + KEY},
    ]
    with override_settings(GRIP_PROXIES=proxies, GRIP_VERIFY_KEY="global-" + KEY):
        assert [p.signing_key for p in grip_settings.proxies] == ["global-" + KEY, "own-" + KEY]
        assert grip_settings.proxies[0].key == "publish-" + KEY


@pytest.mark.parametrize("value", ["", 3, ["k"]])
def test_bad_grip_verify_key_fails_with_a_message_naming_it(value):
    with (
        override_settings(GRIP_VERIFY_KEY=value),
        pytest.raises(GripConfigurationError, match="GRIP_VERIFY_KEY"),
    ):
        grip_settings.proxies  # noqa: B018


# -- PUBLISH_SERVERS -------------------------------------------------------------------------------
def test_publish_servers_are_published_to_beside_the_proxies():
    with override_settings(PUBLISH_SERVERS=[{"uri": "http://127.0.0.1:2/", "iss": "i", "key": "k"}]):
        assert grip_settings.publish_servers == (
            grip_settings.proxies[0],
            Proxy(control_uri="http://127.0.0.1:2", control_iss="i", key="k"),
        )


def test_publish_server_naming_a_configured_proxy_is_not_published_to_twice():
    (proxy,) = grip_settings.proxies  # the test settings' proxy: it has a verify_iss too
    same = {"uri": proxy.control_uri + "/", "iss": proxy.control_iss, "key": proxy.key}
    with override_settings(
        PUBLISH_SERVERS=[same, {"uri": "http://127.0.0.1:2"}, {"uri": "http://127.0.0.1:2"}]
    ):
        assert [s.control_uri for s in grip_settings.publish_servers] == [
            proxy.control_uri,
            "http://127.0.0.1:2",
        ]
    with override_settings(GRIP_VERIFY_KEY="v-" + KEY, PUBLISH_SERVERS=[same]):
        assert len(grip_settings.publish_servers) == 1


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("http://x", "PUBLISH_SERVERS must be a list"),
        ([{"url": "http://x"}], r"PUBLISH_SERVERS\[0\] must be a dict with keys"),
        ([{"iss": "x"}], r"PUBLISH_SERVERS\[0\] needs a 'uri'"),
        ([{"uri": "x"}], r"PUBLISH_SERVERS\[0\]\['control_uri'\] must be an http"),
    ],
)
def test_bad_publish_servers_fail_with_a_message_naming_them(value, match):
    with override_settings(PUBLISH_SERVERS=value), pytest.raises(GripConfigurationError, match=match):
        grip_settings.publish_servers  # noqa: B018


# -- the simple settings ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("GRIP_PROXY_REQUIRED", True, lambda: grip_settings.proxy_required),
        ("GRIP_PREFIX", "app-", lambda: grip_settings.prefix),
        ("GRIP_PUBLISH_TIMEOUT", 2, lambda: grip_settings.publish_timeout),
        ("GRIP_PUBLISH_TIMEOUT", 0.5, lambda: grip_settings.publish_timeout),
        ("GRIP_PUBLISH_QUEUE_SIZE", 10, lambda: grip_settings.publish_queue_size),
        ("GRIP_PUBLISH_BATCH_SIZE", 3, lambda: grip_settings.publish_batch_size),
        ("GRIP_PUBLISH_BACKEND", HttpPublisher, lambda: grip_settings.publish_backend),
        ("GRIP_PUBLISH_ERROR_HANDLER", handler, lambda: grip_settings.publish_error_handler),
        (
            "GRIP_WEBSOCKET_ALLOWED_ORIGINS",
            ("https://a.example",),
            lambda: grip_settings.websocket_allowed_origins,
        ),
    ],
)
def test_override_settings_takes_effect_at_once(name, value, read):
    before = read()
    with override_settings(**{name: value}):
        assert read() == value
    assert read() == before


def test_dotted_paths_are_imported():
    with override_settings(
        GRIP_PUBLISH_BACKEND="grip_views.publishing.HttpPublisher",
        GRIP_PUBLISH_ERROR_HANDLER="tests.test_conf.handler",
    ):
        assert grip_settings.publish_backend is HttpPublisher
        assert grip_settings.publish_error_handler is handler


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("GRIP_PROXY_REQUIRED", "yes", lambda: grip_settings.proxy_required),
        ("GRIP_PREFIX", 1, lambda: grip_settings.prefix),
        ("GRIP_PREFIX", "my app", lambda: grip_settings.prefix),
        ("GRIP_PUBLISH_TIMEOUT", 0, lambda: grip_settings.publish_timeout),
        ("GRIP_PUBLISH_TIMEOUT", True, lambda: grip_settings.publish_timeout),
        ("GRIP_PUBLISH_TIMEOUT", "5", lambda: grip_settings.publish_timeout),
        ("GRIP_PUBLISH_QUEUE_SIZE", 0, lambda: grip_settings.publish_queue_size),
        ("GRIP_PUBLISH_BATCH_SIZE", 2.5, lambda: grip_settings.publish_batch_size),
        ("GRIP_PUBLISH_BACKEND", "grip_views.nowhere.Publisher", lambda: grip_settings.publish_backend),
        ("GRIP_PUBLISH_BACKEND", "grip_views.publishing.publish", lambda: grip_settings.publish_backend),
        ("GRIP_PUBLISH_ERROR_HANDLER", 42, lambda: grip_settings.publish_error_handler),
        ("GRIP_PUBLISH_ERROR_HANDLER", "tests.nowhere.handler", lambda: grip_settings.publish_error_handler),
        (
            "GRIP_WEBSOCKET_ALLOWED_ORIGINS",
            "https://a.example",
            lambda: grip_settings.websocket_allowed_origins,
        ),
        ("GRIP_WEBSOCKET_ALLOWED_ORIGINS", [1], lambda: grip_settings.websocket_allowed_origins),
    ],
)
def test_wrong_shape_fails_with_a_message_naming_the_setting(name, value, read):
    with override_settings(**{name: value}), pytest.raises(GripConfigurationError, match=name):
        read()


# -- live changes of what is cached -----------------------------------------------------------------
def test_changing_grip_proxies_rebuilds_proxies_and_verifier_at_once():
    old_verifier = grip_settings.verifier
    with override_settings(GRIP_PROXIES=[{"verify_key": "new-" + KEY}]):
        assert grip_settings.verify_keys == (("new-" + KEY, None),)
        assert grip_settings.verifier is not old_verifier
    assert grip_settings.verify_keys == ((KEY, "pushpin"),)


def test_changing_grip_url_or_verify_key_takes_effect_at_once():
    with override_settings(GRIP_PROXIES=[], GRIP_URL="http://127.0.0.1:5561/?key=" + KEY):
        assert [p.control_uri for p in grip_settings.proxies] == ["http://127.0.0.1:5561"]
        with override_settings(GRIP_VERIFY_KEY="other-" + KEY):
            assert grip_settings.proxies[0].signing_key == "other-" + KEY
        assert grip_settings.proxies[0].signing_key == KEY


def test_changing_publish_settings_rebuilds_the_publisher():
    with override_settings(
        GRIP_PUBLISH_BACKEND="grip_views.publishing.HttpPublisher", GRIP_PUBLISH_BATCH_SIZE=7
    ):
        first = publishing.get_publisher()
        assert first.batch_size == 7
        with override_settings(PUBLISH_SERVERS=[{"uri": "http://127.0.0.1:3"}]):
            second = publishing.get_publisher()
            assert second is not first
            assert [s.uri for s in second.servers] == ["http://127.0.0.1:1", "http://127.0.0.1:3"]


def test_proxy_repr_shows_no_key():
    text = repr(Proxy("http://127.0.0.1:1", "pushpin", KEY, "pushpin", "verify-" + KEY))
    assert KEY not in text
    assert "127.0.0.1:1" in text


# -- JWK verify keys ----------------------------------------------------------------------------
def _ec_jwk(private_key) -> dict:
    from jwt.algorithms import ECAlgorithm

    return json.loads(ECAlgorithm.to_jwk(private_key.public_key()))


def test_a_jwk_dict_verify_key_is_kept_as_its_json_and_verifies(ec_key):
    jwk = _ec_jwk(ec_key)
    with override_settings(GRIP_PROXIES=[{"verify_key": jwk, "verify_iss": "fastly:svc"}]):
        (proxy,) = grip_settings.proxies
        assert json.loads(proxy.verify_key) == jwk
        token = jwt.encode({"iss": "fastly:svc", "exp": int(time.time()) + 60}, ec_key, algorithm="ES256")
        assert grip_settings.verifier.is_valid(token)


@pytest.mark.parametrize("encoding", ["url-encoded", "plus-for-space", "base64"])
def test_grip_url_verify_key_may_be_a_jwk_as_fanout_gives_it(ec_key, encoding):
    text = json.dumps(_ec_jwk(ec_key))  # with spaces, as json.dumps writes it
    if encoding == "url-encoded":
        param = urlencode({"verify-key": text}, quote_via=quote)
    elif encoding == "plus-for-space":
        param = urlencode({"verify-key": text})  # quote_plus: each space becomes '+'
    else:
        param = "verify-key=base64:" + base64.b64encode(text.encode()).decode()
    url = f"https://api.fastly.com/service/svc?key=token&verify-iss=fastly:svc&{param}"
    token = jwt.encode({"iss": "fastly:svc", "exp": int(time.time()) + 60}, ec_key, algorithm="ES256")
    with override_settings(GRIP_PROXIES=[], GRIP_URL=url):
        (proxy,) = grip_settings.proxies
        assert proxy.control_uri == "https://api.fastly.com/service/svc"
        assert grip_settings.verifier.is_valid(token)


def test_grip_url_verify_key_may_be_a_pem_with_its_spaces_as_plus(ec_key):
    from cryptography.hazmat.primitives import serialization

    pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = jwt.encode({"iss": "x", "exp": int(time.time()) + 60}, ec_key, algorithm="ES256")
    for param in (
        urlencode({"verify-key": pem.decode()}),
        "verify-key=base64:" + base64.b64encode(pem).decode(),
    ):
        with override_settings(GRIP_PROXIES=[], GRIP_URL=f"http://127.0.0.1:5561/?{param}"):
            assert grip_settings.verifier.is_valid(token), param


def test_grip_verify_key_may_be_a_jwk_dict(ec_key):
    with override_settings(GRIP_VERIFY_KEY=_ec_jwk(ec_key)):
        assert all(p.signing_key.startswith("{") for p in grip_settings.proxies)
        token = jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, ec_key, algorithm="ES256")
        assert grip_settings.verifier.is_valid(token)


@pytest.mark.parametrize(
    ("settings_", "named"),
    [
        ({"GRIP_PROXIES": [{"verify_key": {"kty": "EC"}}]}, r"GRIP_PROXIES\[0\]\['verify_key'\]"),
        ({"GRIP_PROXIES": [{"verify_key": "{garbage"}]}, r"GRIP_PROXIES\[0\]\['verify_key'\]"),
        ({"GRIP_PROXIES": [{"key": "-----BEGIN PUBLIC KEY-----\nx"}]}, r"GRIP_PROXIES\[0\]\['key'\]"),
        ({"GRIP_VERIFY_KEY": {"kty": "RSA"}}, "GRIP_VERIFY_KEY"),
        ({"GRIP_PROXIES": [], "GRIP_URL": "http://127.0.0.1:5561/?verify-key=%7Bx"}, "GRIP_URL verify-key="),
        ({"GRIP_PROXIES": [{"control_uri": "http://x", "key": {"kty": "EC"}}]}, r"\['key'\] must be"),
    ],
)
def test_a_key_that_looks_public_but_does_not_load_fails_naming_the_setting(settings_, named):
    with override_settings(**settings_), pytest.raises(GripConfigurationError, match=named):
        grip_settings.proxies  # noqa: B018


def test_a_plain_string_is_still_an_hs256_secret():
    with override_settings(GRIP_PROXIES=[{"verify_key": "not json, not pem: " + KEY}]):
        assert grip_settings.verifier.is_valid(grip_sig(key="not json, not pem: " + KEY))


# -- credentials in URIs -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings_", "source"),
    [
        (
            {"GRIP_PROXIES": [], "GRIP_URL": "http://pub%40lisher:p%3Ass@127.0.0.1:5561/?iss=pushpin"},
            "GRIP_URL",
        ),
        (
            {"GRIP_PROXIES": [{"control_uri": "http://pub%40lisher:p%3Ass@127.0.0.1:5561/"}]},
            "GRIP_PROXIES[0]",
        ),
        ({"GRIP_PROXIES": [], "PUBLISH_SERVERS": [{"uri": "http://pub%40lisher:p%3Ass@127.0.0.1:5561"}]}, ""),
    ],
)
def test_credentials_are_taken_out_of_the_uri(settings_, source):
    with override_settings(**settings_):
        (server,) = grip_settings.publish_servers
    assert server.control_uri == "http://127.0.0.1:5561"
    assert (server.username, server.password) == ("pub@lisher", "p:ss")
    assert server.basic_auth == ("pub@lisher", "p:ss")
    assert "p:ss" not in repr(server) and "p%3Ass" not in repr(server)
    assert "lisher" not in repr(server)  # a user name may be a token: not shown either
    assert "basic_auth=True" in repr(server)
    assert server.source.startswith(source or "PUBLISH_SERVERS[0]")


def test_a_key_takes_over_from_uri_credentials():
    proxy = Proxy(control_uri="http://h", key=KEY, username="u", password="p")
    assert proxy.basic_auth is None
    assert Proxy(control_uri="http://h", username="token").basic_auth == ("token", "")


@pytest.mark.parametrize(
    "uri",
    ["ftp://user:hunter2-pw@127.0.0.1/", "user:hunter2-pw@127.0.0.1:5561", "http://user:hunter2-pw@:80/"],
)
def test_bad_control_uri_errors_hide_the_password(uri):
    with override_settings(GRIP_PROXIES=[{"control_uri": uri}]):
        with pytest.raises(GripConfigurationError, match="control_uri") as info:
            grip_settings.proxies  # noqa: B018
    assert "hunter2-pw" not in str(info.value)


def test_bad_grip_url_errors_hide_the_password():
    with override_settings(GRIP_URL="ftp://user:hunter2-pw@127.0.0.1/?key=k"):
        with pytest.raises(GripConfigurationError) as info:
            grip_settings.proxies  # noqa: B018
    assert "hunter2-pw" not in str(info.value)


def test_control_uri_with_a_port_that_is_not_a_number_is_a_configuration_error():
    with override_settings(GRIP_PROXIES=[{"control_uri": "http://127.0.0.1:pushpin"}]):
        with pytest.raises(GripConfigurationError, match="must be an http"):
            grip_settings.proxies  # noqa: B018
