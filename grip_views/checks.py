"""System checks: a misconfigured ``GRIP_*`` setting fails at startup, by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import grip_settings
from .exceptions import GripConfigurationError

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
]


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each GRIP setting has the right shape; keys parse; the middleware is installed."""
    messages: list[CheckMessage] = []
    for check_id, _names, read, hint in _SETTINGS:
        try:
            read()
        except GripConfigurationError as exc:
            # PUBLISH_SERVERS includes the proxies: a bad GRIP_PROXIES is reported once.
            if all(m.msg != str(exc) for m in messages):
                messages.append(Error(str(exc), hint=hint, id=check_id))
    if not any(m.id == "grip_views.E001" for m in messages):
        try:
            verifier = grip_settings.verifier
        except Exception as exc:  # a PEM that does not load, an unknown key type
            messages.append(
                Error(
                    f"A verify key in GRIP_PROXIES / GRIP_VERIFY_KEY could not be loaded: {exc}",
                    hint="verify_key is a shared secret (HS256) or a PEM public key (ES256/RS256).",
                    id="grip_views.E007",
                )
            )
        else:
            if not verifier.required and not settings.DEBUG:
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
            short = [p for p in grip_settings.proxies if _is_short_secret(p.signing_key)]
            if short and not settings.DEBUG:
                messages.append(
                    Warning(
                        "A GRIP proxy key in GRIP_PROXIES / GRIP_URL / GRIP_VERIFY_KEY is shorter "
                        "than 32 bytes: an HS256 secret that short can be guessed offline from "
                        "one Grip-Sig.",
                        hint="Set a random sig_key of 32+ characters in pushpin.conf and in "
                        "GRIP_PROXIES/GRIP_URL.",
                        id="grip_views.W002",
                    )
                )
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


def _is_short_secret(key: str | bytes | None) -> bool:
    if key is None:
        return False
    raw = key.encode() if isinstance(key, str) else key
    return not raw.lstrip().startswith(b"-----BEGIN") and len(raw) < 32
