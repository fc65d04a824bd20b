"""Every grip_views setting, read from ``django.conf.settings`` in one place.

Values are read on access, so ``override_settings`` takes effect at once. What
is costly to build from them (parsed proxies, signature verifiers) is built on
first use and thrown away when a ``GRIP_*`` setting changes.

Credentials in a proxy's URI (``http://user:password@host:5561/``, in
``GRIP_URL``, ``GRIP_PROXIES`` or ``PUBLISH_SERVERS``) are taken out of it and
sent as HTTP Basic auth with each publish. A proxy that also has a ``key``
authenticates with that instead (``Authorization: Bearer``, a JWT when it has
``control_iss``): a request carries one ``Authorization`` header, and the key
is how GRIP proxies authenticate publishers; system check ``grip_views.W004``
points out the unused password. No repr, log line or error shows a password
or a key.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .exceptions import GripConfigurationError, InvalidVerifyKey
from .protocol.signature import SignatureVerifier, algorithm_for_key, is_public_key

#: Where a ZeroMQ publisher sends to a proxy (see :mod:`grip_views.zmq`): a
#: PUSH to its PULL, a PUB connected to its SUB, or a PUB its SUB connects to.
ZMQ_KEYS = ("control_zmq_push_uri", "control_zmq_pub_uri", "control_zmq_pub_bind")
PROXY_KEYS = frozenset({"control_uri", "control_iss", "key", "verify_iss", "verify_key", *ZMQ_KEYS})
PUBLISH_SERVER_KEYS = frozenset({"uri", "control_uri", "iss", "control_iss", "key"})
#: How GRIP_URL names the keys of a proxy, for error messages.
_GRIP_URL_PARAMS = {
    "control_uri": "URL",
    "control_iss": "iss=",
    "key": "key=",
    "verify_iss": "verify-iss=",
    "verify_key": "verify-key=",
}


@dataclass(frozen=True)
class Proxy:
    """One GRIP proxy: where to publish to it, and how to check what it signs."""

    control_uri: str | None = None
    control_iss: str | None = None
    key: str | bytes | None = None
    verify_iss: str | None = None
    #: A shared secret, PEM public key, or JWK as JSON text (a JWK dict in the
    #: settings is kept as its JSON).
    verify_key: str | bytes | None = None
    #: From ``user:password@`` in the control URI (taken out of ``control_uri``).
    username: str | None = None
    password: str | None = None
    #: The setting this proxy came from (``GRIP_PROXIES[0]``, ``GRIP_URL``...).
    source: str = dataclasses.field(default="", compare=False)
    #: ZeroMQ endpoints (``grip_views.zmq.ZmqPublisher`` publishes to them):
    #: the proxy's ``push_in_spec``; its bound ``push_in_sub_specs``; or the
    #: address the app's PUB socket binds for proxies with ``push_in_sub_connect``.
    zmq_push_uri: str | None = None
    zmq_pub_uri: str | None = None
    zmq_pub_bind: str | None = None

    @property
    def zmq_endpoint(self) -> tuple[str, str] | None:
        """``(key, address)`` of this proxy's ZeroMQ endpoint, or None."""
        for key in ZMQ_KEYS:
            value = getattr(self, key[len("control_") :])
            if value is not None:
                return key, value
        return None

    @property
    def signing_key(self) -> str | bytes | None:
        """The key that verifies this proxy's ``Grip-Sig`` (``verify_key``, else ``key``)."""
        return self.verify_key if self.verify_key is not None else self.key

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """``(user, password)`` for HTTP Basic auth on publishes, or None.

        None when the proxy has a ``key``: its Bearer token is sent instead.
        """
        if self.username is None or self.key is not None:
            return None
        return self.username, self.password or ""

    def __repr__(self) -> str:
        # Keys and credentials never appear in logs, errors or reprs (a token is
        # sometimes given as the user name).
        auth = ", basic_auth=True" if self.username is not None else ""
        return f"Proxy(control_uri={self.control_uri!r}, verify_iss={self.verify_iss!r}{auth})"


def _is_key(value: object) -> bool:
    return isinstance(value, (str, bytes)) and len(value) > 0


def parse_grip_url(url: str, setting: str = "GRIP_URL") -> dict[str, Any]:
    """Parse a GRIP URL as gripcontrol does (``iss``, ``key``, ``verify-iss``,
    ``verify-key``, ``base64:`` keys), with an error naming ``setting``.

    ``verify-key`` may be a PEM or a JWK's JSON (as Fastly Fanout's is), URL-encoded
    or as ``base64:`` of either. Credentials stay in ``control_uri`` here;
    the proxy built from it takes them out.
    """
    if not isinstance(url, str) or not url:
        raise GripConfigurationError(f"{setting} must be a non-empty string, got {url!r}.")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise GripConfigurationError(
            f"{setting} must be an http(s) URL such as "
            f"'http://127.0.0.1:5561/?iss=pushpin&key=changeme'; got {_redact(url)!r}."
        )
    from gripcontrol import parse_grip_uri

    try:
        out = dict(parse_grip_uri(url))
    except Exception as exc:  # binascii.Error on a bad base64: key and others
        raise GripConfigurationError(f"{setting} could not be parsed: {exc}.") from None
    for name in ("key", "verify_key"):
        out[name] = _unplus_key(out.get(name))
    return {k: v for k, v in out.items() if v is not None}


def _unplus_key(value: object) -> object:
    """A public key whose spaces were URL-encoded as ``+``: gripcontrol keeps a
    ``+`` as such (base64 has them), which leaves JSON or a PEM unreadable.

    A JWK's values are base64url, which has no ``+``, so its JSON gets its
    spaces back; a PEM gets them back in its ``-----BEGIN ...-----`` lines only.
    A shared secret is left as it is.
    """
    if not isinstance(value, str) or "+" not in value or not is_public_key(value):
        return value
    if not value.lstrip().startswith("{"):  # a PEM
        return "\n".join(
            line.replace("+", " ") if line.strip().startswith("-----") else line for line in value.split("\n")
        )
    try:
        json.loads(value)
    except ValueError:
        spaced = value.replace("+", " ")
        try:
            json.loads(spaced)
        except ValueError:
            return value
        return spaced
    return value


def _redact(url: object) -> object:
    """``url`` without what may be secret: its query and any ``user:password@``."""
    if not isinstance(url, str):
        return url
    head, query, _ = url.partition("?")
    if "@" in head:
        before, _, host = head.rpartition("@")
        scheme, sep, _ = before.partition("://")
        head = f"{scheme}://***@{host}" if sep else f"***@{host}"
    return head + ("?..." if query else "")


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``(uri without user:password@, user, password)``, percent-decoded."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=hostport))
    return clean, unquote(user), unquote(password) if colon else None


def _check_key(value: object, label: str, *, jwk_dict: bool) -> str | bytes | None:
    """A key setting as a proxy keeps it, or an error naming ``label``.

    A public key (PEM, or a JWK as dict or JSON) must load; a dict becomes its
    JSON text. Nothing of the key is ever put in a message.
    """
    if value is None:
        return None
    if jwk_dict and isinstance(value, Mapping):
        try:
            value = json.dumps(dict(value), sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            raise InvalidVerifyKey(
                f"{label} is a dict but not a JWK: its members must be JSON strings."
            ) from None
    if not _is_key(value):
        what = "a shared secret, a PEM public key, or a JWK (dict or JSON)" if jwk_dict else "a shared secret"
        raise GripConfigurationError(f"{label} must be a non-empty str or bytes ({what}).")
    if is_public_key(value):
        try:
            algorithm_for_key(value)
        except InvalidVerifyKey as exc:
            raise InvalidVerifyKey(f"{label}: {exc}.") from None
    return value  # type: ignore[return-value]


def _check_proxy(entry: object, where: str) -> Proxy:
    def label(name: str) -> str:
        if where == "GRIP_URL":
            return f"GRIP_URL {_GRIP_URL_PARAMS[name]}"
        return f"{where}[{name!r}]"

    if not isinstance(entry, Mapping):
        raise GripConfigurationError(
            f"{where} must be a dict with keys among {sorted(PROXY_KEYS)}, got {type(entry).__name__}."
        )
    unknown = set(entry) - PROXY_KEYS
    if unknown:
        raise GripConfigurationError(
            f"{where} has unknown key(s) {sorted(unknown)}; allowed: {sorted(PROXY_KEYS)}."
        )
    uri = entry.get("control_uri")
    username = password = None
    if uri is not None:
        if not _is_http_url(uri):
            raise GripConfigurationError(
                f"{label('control_uri')} must be an http(s) URL such as 'http://127.0.0.1:5561', "
                f"got {_redact(uri)!r}."
            )
        uri, username, password = split_credentials(uri)
    key = _check_key(entry.get("key"), label("key"), jwk_dict=False)
    verify_key = _check_key(entry.get("verify_key"), label("verify_key"), jwk_dict=True)
    for name in ("control_iss", "verify_iss", *ZMQ_KEYS):
        value = entry.get(name)
        if value is not None and not isinstance(value, str):
            raise GripConfigurationError(f"{label(name)} must be a string.")
    transports = [name for name in ("control_uri", *ZMQ_KEYS) if entry.get(name) is not None]
    if len(transports) > 1:
        raise GripConfigurationError(
            f"{where} has {' and '.join(transports)}: give one per proxy (each would get "
            "every publish), or one entry per way to reach it."
        )
    if uri is None and key is None and verify_key is None and not transports:
        raise GripConfigurationError(
            f"{where} needs a 'control_uri' (or a 'control_zmq_*' address) to publish to, "
            "or a 'key'/'verify_key' to verify Grip-Sig with."
        )
    return Proxy(
        control_uri=uri.rstrip("/") if isinstance(uri, str) else None,
        control_iss=entry.get("control_iss"),
        key=key,
        verify_iss=entry.get("verify_iss"),
        verify_key=verify_key,
        username=username,
        password=password,
        source=where,
        zmq_push_uri=entry.get("control_zmq_push_uri"),
        zmq_pub_uri=entry.get("control_zmq_pub_uri"),
        zmq_pub_bind=entry.get("control_zmq_pub_bind"),
    )


def _is_http_url(uri: object) -> bool:
    if not isinstance(uri, str):
        return False
    try:
        parsed = urlparse(uri)
        parsed.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def _import_setting(value: object, setting: str) -> Any:
    if isinstance(value, str):
        try:
            return import_string(value)
        except ImportError as exc:
            raise GripConfigurationError(f"{setting} = {value!r} could not be imported: {exc}.") from None
    return value


T = TypeVar("T")


# Pays: bench a1c "settings", row stream (1.68x slower without it; 1.12x with the
# verifier alone kept).
class _CachedSetting(Generic[T]):
    """A :class:`GripSettings` property built once from the settings and kept
    until a setting changes (``clear_cache()``, on ``setting_changed``).

    Kept in the instance's ``__dict__``, as ``functools.cached_property`` does:
    a later read is a plain attribute look-up, with no call (several a request).
    """

    def __init__(self, build: Callable[[Any], T]) -> None:
        self.build = build
        self.name = build.__name__
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: None, owner: type) -> _CachedSetting[T]: ...
    @overload
    def __get__(self, obj: GripSettings, owner: type) -> T: ...
    def __get__(self, obj: GripSettings | None, owner: type) -> T | _CachedSetting[T]:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.build(obj)
        return value


class GripSettings:
    """Typed access to every ``GRIP_*`` setting, with its default.

    Settings read on every request (the verifier, the prefix...) are built
    once and cached until a setting changes; the others are read on each
    access. Either way a bad value raises ``GripConfigurationError`` naming
    the setting, the same message ``manage.py check`` shows.
    """

    def clear_cache(self) -> None:
        # What _CachedSetting kept: every entry of the instance's __dict__.
        self.__dict__.clear()

    # -- proxies -----------------------------------------------------------
    @_CachedSetting
    def proxies(self) -> tuple[Proxy, ...]:
        """``GRIP_PROXIES`` plus the proxy of ``GRIP_URL``, ``GRIP_VERIFY_KEY`` applied.

        Built anew from the settings, never appended to them: reading it twice
        gives the same proxies.
        """
        raw = getattr(django_settings, "GRIP_PROXIES", None)
        if raw is None:
            raw = []
        if not isinstance(raw, (list, tuple)):
            raise GripConfigurationError(f"GRIP_PROXIES must be a list of dicts, got {type(raw).__name__}.")
        proxies = [_check_proxy(entry, f"GRIP_PROXIES[{i}]") for i, entry in enumerate(raw)]
        url = getattr(django_settings, "GRIP_URL", None)
        if url:
            proxies.append(_check_proxy(parse_grip_url(url), "GRIP_URL"))
        verify_key = _check_key(
            getattr(django_settings, "GRIP_VERIFY_KEY", None), "GRIP_VERIFY_KEY", jwk_dict=True
        )
        if verify_key is not None:
            proxies = [p if p.verify_key is not None else _with_verify_key(p, verify_key) for p in proxies]
        return tuple(proxies)

    @_CachedSetting
    def verify_keys(self) -> tuple[tuple[str | bytes, str | None], ...]:
        """The distinct (key, issuer) pairs that may sign a proxied request."""
        seen: dict[tuple[str | bytes, str | None], None] = {}
        for p in self.proxies:
            if p.signing_key is not None:
                seen[(p.signing_key, p.verify_iss)] = None
        return tuple(seen)

    @_CachedSetting
    def verifier(self) -> SignatureVerifier:
        """The :class:`~grip_views.protocol.signature.SignatureVerifier` for ``verify_keys``
        (asked on every request)."""
        return SignatureVerifier(self.verify_keys)

    @_CachedSetting
    def publish_servers(self) -> tuple[Proxy, ...]:
        """Where publishes go: every proxy with a ``control_uri``, then ``PUBLISH_SERVERS``."""
        servers = [p for p in self.proxies if p.control_uri]
        raw = getattr(django_settings, "PUBLISH_SERVERS", None) or []
        if not isinstance(raw, (list, tuple)):
            raise GripConfigurationError(
                f"PUBLISH_SERVERS must be a list of dicts like {{'uri': 'http://...', "
                f"'iss': ..., 'key': ...}}, got {type(raw).__name__}."
            )
        for i, entry in enumerate(raw):
            where = f"PUBLISH_SERVERS[{i}]"
            if not isinstance(entry, Mapping) or set(entry) - PUBLISH_SERVER_KEYS:
                raise GripConfigurationError(
                    f"{where} must be a dict with keys among {sorted(PUBLISH_SERVER_KEYS)}."
                )
            uri = entry.get("uri", entry.get("control_uri"))
            if uri is None:
                raise GripConfigurationError(f"{where} needs a 'uri'.")
            proxy = _check_proxy(
                {
                    "control_uri": uri,
                    "control_iss": entry.get("iss", entry.get("control_iss")),
                    "key": entry.get("key"),
                },
                where,
            )
            # One POST per endpoint: a proxy already listed (its verify_* or
            # GRIP_VERIFY_KEY make it compare unequal) is not published to twice.
            if all(s.control_uri != proxy.control_uri for s in servers):
                servers.append(proxy)
        return tuple(servers)

    # -- simple settings ---------------------------------------------------
    @_CachedSetting
    def proxy_required(self) -> bool:
        """``GRIP_PROXY_REQUIRED``: answer 501 to a hold asked for on a direct request."""
        value = getattr(django_settings, "GRIP_PROXY_REQUIRED", False)
        if not isinstance(value, bool):
            raise GripConfigurationError("GRIP_PROXY_REQUIRED must be True or False.")
        return value

    @_CachedSetting
    def prefix(self) -> str:
        """``GRIP_PREFIX``: put before every channel name, in holds, subscriptions and publishes
        (read on every proxied request)."""
        value = getattr(django_settings, "GRIP_PREFIX", "")
        if not isinstance(value, str):
            raise GripConfigurationError(f"GRIP_PREFIX must be a string, got {value!r}.")
        if value:
            from .exceptions import InvalidChannel
            from .protocol.instructions import check_channel_name

            try:
                check_channel_name(value, setting="GRIP_PREFIX")
            except InvalidChannel as exc:  # a configuration error: the system check reports it
                raise GripConfigurationError(str(exc)) from None
        return value

    @property
    def publish_timeout(self) -> float:
        """``GRIP_PUBLISH_TIMEOUT`` (seconds, default 5): bounds every publish request."""
        value = getattr(django_settings, "GRIP_PUBLISH_TIMEOUT", 5.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise GripConfigurationError(
                f"GRIP_PUBLISH_TIMEOUT must be a positive number of seconds, got {value!r}."
            )
        return float(value)

    @property
    def publish_queue_size(self) -> int:
        """``GRIP_PUBLISH_QUEUE_SIZE`` (default 10,000): items waiting for a non-blocking send."""
        return self._positive_int("GRIP_PUBLISH_QUEUE_SIZE", 10_000)

    @property
    def publish_batch_size(self) -> int:
        """``GRIP_PUBLISH_BATCH_SIZE`` (default 500): items sent in one POST at most."""
        return self._positive_int("GRIP_PUBLISH_BATCH_SIZE", 500)

    def _positive_int(self, name: str, default: int) -> int:
        value = getattr(django_settings, name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GripConfigurationError(f"{name} must be a positive integer, got {value!r}.")
        return value

    @property
    def publish_backend(self) -> type:
        """``GRIP_PUBLISH_BACKEND``: the publisher class (dotted path or class)."""
        value = getattr(django_settings, "GRIP_PUBLISH_BACKEND", "grip_views.publishing.HttpPublisher")
        cls = _import_setting(value, "GRIP_PUBLISH_BACKEND")
        if not isinstance(cls, type):
            raise GripConfigurationError("GRIP_PUBLISH_BACKEND must name a class.")
        return cls

    @property
    def publish_error_handler(self) -> Callable[..., Any] | None:
        """``GRIP_PUBLISH_ERROR_HANDLER``: called with each failure of a non-blocking publish."""
        value = getattr(django_settings, "GRIP_PUBLISH_ERROR_HANDLER", None)
        if value is None:
            return None
        handler = _import_setting(value, "GRIP_PUBLISH_ERROR_HANDLER")
        if not callable(handler):
            raise GripConfigurationError("GRIP_PUBLISH_ERROR_HANDLER must be a callable or its dotted path.")
        return handler  # type: ignore[no-any-return]

    @_CachedSetting
    def connection_subscription_max(self) -> int:
        """``GRIP_CONNECTION_SUBSCRIPTION_MAX`` (default 20, Pushpin's
        ``connection_subscription_max``): channels one connection may be
        subscribed to; more are refused with an error in the log, as the proxy
        would drop them (read on every proxied WebSocket request and hold)."""
        return self._positive_int("GRIP_CONNECTION_SUBSCRIPTION_MAX", 20)

    @_CachedSetting
    def websocket_allowed_origins(self) -> tuple[str, ...] | None:
        """``GRIP_WEBSOCKET_ALLOWED_ORIGINS``: origins a WebSocket may be opened from,
        beside the request's own host, ``ALLOWED_HOSTS`` and ``CSRF_TRUSTED_ORIGINS``.
        ``["*"]`` allows any origin."""
        value = getattr(django_settings, "GRIP_WEBSOCKET_ALLOWED_ORIGINS", None)
        if value is None:
            return None
        if (
            isinstance(value, str)
            or not isinstance(value, (list, tuple))
            or not all(isinstance(v, str) for v in value)
        ):
            raise GripConfigurationError(
                "GRIP_WEBSOCKET_ALLOWED_ORIGINS must be a list of origins such as "
                "['https://example.com'] (or ['*'])."
            )
        return tuple(value)


def _with_verify_key(proxy: Proxy, key: str | bytes) -> Proxy:
    return dataclasses.replace(proxy, verify_key=key)


grip_settings = GripSettings()


@receiver(setting_changed)
def _clear_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("GRIP_") or setting == "PUBLISH_SERVERS":
        grip_settings.clear_cache()
