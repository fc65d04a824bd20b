"""The race's chat room, Channels side (bench/race.py): the twin of views_chat.py.

An ``AsyncJsonWebsocketConsumer`` per socket of ``/chat/<room>/``, in a group
per room over the channel layer (channels_redis in the race): ``{"type":
"say", ...}`` is one ``group_send`` to the room, the sender too; anything else
comes back to the sender alone.
"""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class ChatRoom(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group = f"race-{self.scope['url_route']['kwargs']['room']}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "say":
            await self.channel_layer.group_send(self.group, {"type": "chat.say", "message": content})
        else:
            await self.send_json(content)

    async def chat_say(self, event):
        await self.send_json(event["message"])
