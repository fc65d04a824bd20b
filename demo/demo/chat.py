"""A chat room per URL: join, say, typing (to the others), leave, who is online."""

import re

from django.views.generic import TemplateView

from grip_views import JsonWebSocketView
from grip_views.presence import PresenceMembersView, PresenceMixin

NAME = re.compile(r"[\w-]{1,20}")  # 1-20 letters, digits, "-" or "_"
MAX_TEXT = 500
HELP = 'send {"type": "say", "text": "..."} or {"type": "typing"}'


class ChatRoom(PresenceMixin, JsonWebSocketView):
    """The WebSocket /chat/<room>/socket/?name=<name>: every socket of a room hears
    the others join, say, type and leave.

    The name is fixed at join, by the URL the socket was opened with (the proxy
    sends it with every request of the socket): no message can speak for another.
    """

    skip_self = True  # so that broadcast(..., include_self=False) can skip this socket

    def channels_for(self):
        return [f"chat-{self.kwargs['room']}"]

    @property
    def name(self):
        return self.request.GET.get("name", "")

    def get_presence_info(self):  # who is online: the sockets (tabs) of a name are one member
        return {"id": self.name, "name": self.name}

    def on_open(self):
        if not NAME.fullmatch(self.name):
            self.reject("Choose a name of 1-20 letters, digits, '-' or '_': ?name=<name>.", status=400)
        join = {"type": "join", "name": self.name}
        self.send_json(join)  # to this socket now: it is subscribed only once this answer is sent
        self.broadcast(join, include_self=False)

    def on_message(self, message):
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "say":
            text = message.get("text")
            if not isinstance(text, str) or not text.strip():
                self.send_json({"error": "A say needs some text."})
            elif len(text) > MAX_TEXT:
                self.send_json({"error": f"A say is at most {MAX_TEXT} characters, not {len(text)}."})
            else:  # to everyone, the sender too: all see the same order
                self.broadcast({"type": "say", "name": self.name, "text": text})
        elif kind == "typing":
            self.broadcast({"type": "typing", "name": self.name}, include_self=False)
        else:
            self.send_json({"error": f"Unknown message type {kind!r}: {HELP}."})

    def on_close(self, code):  # a close frame, or None: the client vanished
        self.broadcast({"type": "leave", "name": self.name})


class ChatPage(TemplateView):
    """/chat/<room>/: pick a name, then chat in the room with plain JavaScript."""

    template_name = "demo/chat.html"


class ChatMembers(PresenceMembersView):
    """/chat/<room>/members/: who is in the room, as JSON."""

    def channels_for(self):
        return [f"chat-{self.kwargs['room']}"]
