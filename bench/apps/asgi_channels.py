import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.apps.settings_channels")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.apps.consumers_chat import ChatRoom  # noqa: E402


class Echo(AsyncWebsocketConsumer):
    """The Channels equivalent of the grip_views Echo view."""

    async def connect(self):
        self.group = self.scope["url_route"]["kwargs"]["channel"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)

    async def bench_message(self, event):
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [path("ws/<str:channel>/", Echo.as_asgi()), path("chat/<str:room>/", ChatRoom.as_asgi())]
        ),
    }
)
