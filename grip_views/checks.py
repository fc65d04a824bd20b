"""System checks: a misconfigured ``GRIP_*`` setting fails at startup, by name.

Errors (``E0xx``) and setup warnings run with every ``manage.py check``; the
security warnings W001 (Grip-Sig not verified) and W002 (a short key) are
deployment checks, shown by ``manage.py check --deploy`` as Django's own
security warnings are.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import grip_settings
from .exceptions import GripConfigurationError, InvalidVerifyKey
from .protocol.signature import is_public_key

if TYPE_CHECKING:
    from .history.conf import StoreSettings

MIDDLEWARE_PATH = "grip_views.middleware.GripMiddleware"

_SETTINGS: list[tuple[str, str, Callable[[], Any], str]] = [
    (
        "grip_views.E001",
        "GRIP_PROXIES / GRIP_URL / GRIP_VERIFY_KEY",
        lambda: grip_settings.proxies,
        "Example: GRIP_URL = 'http://127.0.0.1:5561/?iss=pushpin&key=changeme', or "
        "GRIP_PROXIES = [{'control_uri': 'http://127.0.0.1:5561', 'control_iss': 'pushpin', "
        "'key': 'changeme'}].",
    ),
    (
        "grip_views.E002",
        "PUBLISH_SERVERS",
        lambda: grip_settings.publish_servers,
        "Example: PUBLISH_SERVERS = [{'uri': 'http://127.0.0.1:5561', 'iss': 'pushpin', 'key': 'changeme'}].",
    ),
    ("grip_views.E003", "GRIP_PREFIX", lambda: grip_settings.prefix, "Example: GRIP_PREFIX = 'myapp-'."),
    ("grip_views.E004", "GRIP_PROXY_REQUIRED", lambda: grip_settings.proxy_required, "Use True or False."),
    (
        "grip_views.E005",
        "GRIP_PUBLISH_*",
        lambda: (
            grip_settings.publish_timeout,
            grip_settings.publish_queue_size,
            grip_settings.publish_batch_size,
            grip_settings.publish_backend,
            grip_settings.publish_error_handler,
        ),
        "GRIP_PUBLISH_TIMEOUT is seconds (> 0); GRIP_PUBLISH_QUEUE_SIZE and GRIP_PUBLISH_BATCH_SIZE "
        "are positive integers; GRIP_PUBLISH_BACKEND and GRIP_PUBLISH_ERROR_HANDLER are dotted paths.",
    ),
    (
        "grip_views.E006",
        "GRIP_WEBSOCKET_ALLOWED_ORIGINS",
        lambda: grip_settings.websocket_allowed_origins,
        "Example: GRIP_WEBSOCKET_ALLOWED_ORIGINS = ['https://app.example.com'].",
    ),
    (
        "grip_views.E012",
        "GRIP_CONNECTION_SUBSCRIPTION_MAX",
        lambda: grip_settings.connection_subscription_max,
        "Use the connection_subscription_max of Pushpin's [handler] section (default 20).",
    ),
]


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each GRIP setting has the right shape; keys load; the middleware is installed."""
    messages: list[CheckMessage] = []
    for check_id, _names, read, hint in _SETTINGS:
        try:
            read()
        except InvalidVerifyKey as exc:
            if all(m.msg != str(exc) for m in messages):
                messages.append(Error(str(exc), hint=_KEY_HINT, id="grip_views.E007"))
        except GripConfigurationError as exc:
            # PUBLISH_SERVERS includes the proxies: a bad GRIP_PROXIES is reported once.
            if all(m.msg != str(exc) for m in messages):
                messages.append(Error(str(exc), hint=hint, id=check_id))
    failed = {m.id for m in messages}
    if not failed & {"grip_views.E001", "grip_views.E007"}:
        try:
            grip_settings.verifier  # noqa: B018
        except Exception as exc:  # a key object of a type no algorithm is pinned to
            messages.append(
                Error(
                    f"A verify key in GRIP_PROXIES / GRIP_URL / GRIP_VERIFY_KEY could not be loaded: {exc}",
                    hint=_KEY_HINT,
                    id="grip_views.E007",
                )
            )
        if "grip_views.E002" not in failed:
            messages.extend(_check_proxy_setup())
    if MIDDLEWARE_PATH not in getattr(settings, "MIDDLEWARE", []) and not any(
        isinstance(m, str) and m.endswith(".GripMiddleware") for m in getattr(settings, "MIDDLEWARE", [])
    ):
        messages.append(
            Error(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: grip_views views cannot hold "
                "connections or read WebSocket events without it.",
                hint=f"Add '{MIDDLEWARE_PATH}' near the top of MIDDLEWARE.",
                id="grip_views.E008",
            )
        )
    return messages


_KEY_HINT = (
    "A verify key is a shared secret (HS256), a PEM public key, or a JWK as a dict or its JSON "
    "text: EC P-256 keys verify ES256, RSA keys RS256. In GRIP_URL give it URL-encoded or as "
    "verify-key=base64:<base64 of the PEM or JSON>."
)


def _check_proxy_setup() -> list[CheckMessage]:
    """Warnings about proxies that load but will not work as meant."""
    messages: list[CheckMessage] = []
    if not grip_settings.proxies:
        messages.append(
            Warning(
                "No GRIP proxy is configured (GRIP_PROXIES / GRIP_URL are empty; PUBLISH_SERVERS "
                "are publish targets only), so no request counts as proxied: views answer every "
                "request as a direct one and hold nothing.",
                hint="Set GRIP_URL = 'http://127.0.0.1:5561/?iss=pushpin&key=...' (Pushpin's "
                "publish endpoint and its sig_iss / sig_key), or GRIP_PROXIES.",
                id="grip_views.W003",
            )
        )
    for proxy in grip_settings.publish_servers:
        if proxy.username is not None and proxy.key is not None:
            messages.append(
                Warning(
                    f"{proxy.source} has both user:password in its URI and a key: publishes "
                    "authenticate with the key (Authorization: Bearer) and the password is not sent.",
                    hint="Remove the credentials from the URI, or the key if the proxy wants HTTP "
                    "Basic auth.",
                    id="grip_views.W004",
                )
            )
    return messages


@register(Tags.compatibility)
def check_zmq(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Proxies reached over ZeroMQ (``control_zmq_*`` in GRIP_PROXIES) can be published to."""
    try:
        proxies = [p for p in grip_settings.proxies if p.zmq_endpoint is not None]
    except GripConfigurationError:
        return []  # check_settings reports it
    if not proxies:
        return []
    if importlib.util.find_spec("zmq") is None:
        key = {p.source: k for p in proxies for k, _ in [p.zmq_endpoint or ("", "")]}
        return [
            Error(
                f"{', '.join(f'{s}[{k!r}]' for s, k in key.items())}: publishing over ZeroMQ "
                "needs pyzmq, which is not installed.",
                hint="pip install 'grip-views[zmq]'",
                id="grip_views.E013",
            )
        ]
    from .zmq.checks import check_zmq_proxies

    return check_zmq_proxies(proxies)


@register(Tags.security, deploy=True)
def check_security(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Deployment checks (``manage.py check --deploy``): Grip-Sig is verified, with a strong key."""
    try:
        verifier = grip_settings.verifier
        proxies = grip_settings.proxies
    except Exception:  # reported as an error by check_settings
        return []
    messages: list[CheckMessage] = []
    if proxies and not verifier.required:
        messages.append(
            Warning(
                "No GRIP proxy in GRIP_PROXIES / GRIP_URL has a key, so Grip-Sig is not "
                "verified: anyone who can reach the app directly can pose as the proxy "
                "(get holds, drive WebSockets).",
                hint="Give the proxy a sig_key and set it as 'key' (or 'verify_key') in "
                "GRIP_PROXIES or key= in GRIP_URL.",
                id="grip_views.W001",
            )
        )
    if any(_is_short_secret(p.signing_key) for p in proxies):
        messages.append(
            Warning(
                "A GRIP proxy key in GRIP_PROXIES / GRIP_URL / GRIP_VERIFY_KEY is shorter "
                "than 32 bytes: an HS256 secret that short can be guessed offline from "
                "one Grip-Sig.",
                hint="Set a random sig_key of 32+ characters in pushpin.conf and in GRIP_PROXIES/GRIP_URL.",
                id="grip_views.W002",
            )
        )
    return messages


def _is_short_secret(key: str | bytes | None) -> bool:
    if key is None or is_public_key(key):
        return False
    return len(key.encode() if isinstance(key, str) else key) < 32


def _store_errors(store_settings: StoreSettings, check_id: str) -> list[CheckMessage]:
    """The errors of a ``*_BACKEND`` setting (``store_settings.backend_setting``): the
    class it names, and for Redis its URL and redis-py."""
    from .history.conf import history_settings

    setting = store_settings.backend_setting
    messages: list[CheckMessage] = []
    try:
        backend = store_settings.backend
    except GripConfigurationError as exc:
        hint = (
            f"Set {setting} = 'database' (the default: run manage.py migrate), 'redis' (pip install "
            f"'grip-views[redis]'), or a dotted path to a {store_settings.backend_base.__name__}."
        )
        return [Error(str(exc), hint=hint, id=check_id)]
    if getattr(backend, "uses_redis", False):
        try:
            history_settings.redis_url  # noqa: B018
            history_settings.redis_prefix  # noqa: B018
        except GripConfigurationError as exc:
            messages.append(
                Error(
                    str(exc),
                    hint="Example: GRIP_HISTORY_REDIS_URL = 'redis://127.0.0.1:6379/0'.",
                    id=check_id,
                )
            )
        try:
            import redis  # noqa: F401
        except ImportError:
            messages.append(
                Error(
                    f"{setting} is 'redis' but redis-py is not installed.",
                    hint="pip install 'grip-views[redis]'",
                    id="grip_views.E011",
                )
            )
    return messages


@register(Tags.compatibility)
def check_history(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The history store and outbox settings (``GRIP_HISTORY_*``, ``GRIP_OUTBOX_*``) have the right shape."""
    from .history.conf import history_settings

    messages = _store_errors(history_settings, "grip_views.E009")
    for read, hint in (
        (lambda: history_settings.database, "Use an alias of DATABASES, or None for the router's."),
        (
            lambda: (
                history_settings.max_events,
                history_settings.max_age,
                history_settings.outbox_retry_max,
                history_settings.outbox_thread,
            ),
            "GRIP_HISTORY_MAX_EVENTS is a positive integer, GRIP_HISTORY_MAX_AGE and "
            "GRIP_OUTBOX_RETRY_MAX positive seconds (None keeps everything), "
            "GRIP_OUTBOX_THREAD True or False.",
        ),
    ):
        try:
            read()
        except GripConfigurationError as exc:
            messages.append(Error(str(exc), hint=hint, id="grip_views.E010"))
    return messages or _sqlite_sender_warnings()


def _sqlite_sender_warnings() -> list[CheckMessage]:
    """The sender thread writes (send lease, sent marks) beside the requests: on SQLite
    a deferred transaction that read before the sender's write cannot write after it."""
    from django.db import router

    from .history.conf import history_settings
    from .models import HistoryEvent

    if not history_settings.outbox_thread or not getattr(history_settings.backend, "uses_database", False):
        return []
    alias = history_settings.database or router.db_for_write(HistoryEvent)
    database = settings.DATABASES.get(alias, {})
    options = database.get("OPTIONS") or {}
    if (
        database.get("ENGINE") != "django.db.backends.sqlite3"
        or options.get("transaction_mode") == "IMMEDIATE"
    ):
        return []
    return [
        Warning(
            f"GRIP_OUTBOX_THREAD sends durable events from a thread of its own, and the history is in "
            f"the SQLite database {alias!r} without transaction_mode 'IMMEDIATE': a request's "
            "transaction that reads, then writes, fails with 'database is locked' if the sender "
            "wrote in between.",
            hint=f'Set DATABASES["{alias}"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE" (with '
            '"init_command": "PRAGMA journal_mode=WAL" readers do not wait either), or '
            "GRIP_OUTBOX_THREAD = False to send from the committing thread.",
            id="grip_views.W006",
        )
    ]


@register(Tags.compatibility)
def check_presence(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The presence settings (``GRIP_PRESENCE_*``) have the right shape."""
    from .presence.conf import presence_settings

    messages = _store_errors(presence_settings, "grip_views.E016")
    try:
        ttl = presence_settings.ttl  # reads GRIP_PRESENCE_HEARTBEAT too
        presence_settings.debounce  # noqa: B018
    except GripConfigurationError as exc:
        messages.append(
            Error(
                str(exc),
                hint="GRIP_PRESENCE_TTL, GRIP_PRESENCE_HEARTBEAT (whole seconds) and "
                "GRIP_PRESENCE_DEBOUNCE are positive seconds, the TTL longer than the heartbeat: "
                "e.g. 60, 25 and 5.",
                id="grip_views.E017",
            )
        )
    else:
        from .protocol.instructions import MIN_KEEP_ALIVE_INTERVAL

        if ttl <= MIN_KEEP_ALIVE_INTERVAL:
            messages.append(
                Warning(
                    f"GRIP_PRESENCE_TTL is {ttl!r} s: a WebSocket member would expire between two of the "
                    f"proxy's keep-alive requests (at least {MIN_KEEP_ALIVE_INTERVAL} s apart on Pushpin).",
                    hint="Use a TTL longer than 20 s if presence views include WebSockets, e.g. 60.",
                    id="grip_views.W005",
                )
            )
    return messages
