"""The race's chat room, grip_views side (bench/race.py): join a room, say.

One ``JsonWebSocketView`` per room URL, ``/chat/<room>/``: ``{"type": "say",
...}`` goes to every socket of the room, the sender too, through the proxy
(one publish); anything else comes back to the sender alone (the echo of the
race's first row). The Channels twin is bench/apps/consumers_chat.py.
"""

from django.urls import path

from grip_views import JsonWebSocketView


class ChatRoom(JsonWebSocketView):
    def channels_for(self):
        return [f"race-{self.kwargs['room']}"]

    def on_message(self, message):
        if isinstance(message, dict) and message.get("type") == "say":
            self.broadcast(message)  # one publish, every socket of the room
        else:
            self.send_json(message)  # in this request's answer: to the sender alone


def patterns(name):
    return [path("<str:room>/", ChatRoom.as_view())]
