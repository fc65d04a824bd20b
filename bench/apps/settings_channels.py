"""daphne + Channels holding WebSockets itself (in-memory channel layer)."""

from bench.apps.settings_base import *  # noqa: F403

INSTALLED_APPS = ["channels"]
ROOT_URLCONF = "bench.apps.urls_channels"
ASGI_APPLICATION = "bench.apps.asgi_channels.application"
CHANNEL_LAYERS = {
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10000}}
}
