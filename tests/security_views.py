"""Views for the security, fuzz, fault and load tests.

Every hook of the authorization views is recorded in :data:`hooks`, so a test
can prove that a refused request ran none of them.
"""

from django.http import JsonResponse

from grip_views import GripLongPollView, GripStreamView, WebSocketView

#: ``(hook, detail...)`` for every hook run, oldest first; tests empty it.
hooks: list[tuple] = []


class StaffChannels:
    """Channels from ``?ch=`` (``public`` by default); ``staff-*`` only for alice."""

    def channels_for(self):
        hooks.append(("channels_for",))
        return self.request.GET.getlist("ch") or ["public"]

    def can_subscribe(self, channel):
        user = self.request.user.get_username()
        hooks.append(("can_subscribe", channel.name, user))
        return not channel.name.startswith("staff-") or user == "alice"


class AuthStream(StaffChannels, GripStreamView):
    initial_body = "[open]\n"

    def on_open(self):
        hooks.append(("on_open",))
        return self.initial_body


class AuthPoll(StaffChannels, GripLongPollView):
    timeout = 20

    def on_open(self):
        hooks.append(("on_open",))
        return None


class AuthSocket(StaffChannels, WebSocketView):
    """``join X`` / ``leave X`` ask for channels later; anything else is echoed."""

    def on_open(self):
        hooks.append(("on_open",))

    def on_message(self, message):
        hooks.append(("on_message", message))
        if isinstance(message, str) and message.startswith("join "):
            self.send("joined" if self.subscribe(message[5:]) else "denied")
        elif isinstance(message, str) and message.startswith("leave "):
            self.unsubscribe(message[6:])
            self.send("left")
        elif isinstance(message, str):
            self.send(text_data=message)
        else:
            self.send(bytes_data=message)

    def on_close(self, code):
        hooks.append(("on_close", code))


class PartnerSocket(AuthSocket):
    allowed_origins = ["https://partner.example", "https://*.wild.example"]


class MetaSocket(WebSocketView):
    """``note X`` stores X in the connection meta, unchecked, as a careless app would."""

    def on_message(self, message):
        self.meta["note"] = message[5:] if message.startswith("note ") else ""
        self.send(repr(sorted(self.meta.items())))


def grip_info(request):
    """What the middleware learnt about the request."""
    info = request.grip
    return JsonResponse(
        {"proxied": info.proxied, "signed": info.signed, "last": info.last, "features": sorted(info.features)}
    )


# -- end-to-end (fault and load) --------------------------------------------------


class ChannelStream(GripStreamView):
    """A stream on the channel named in the URL."""

    initial_body = "open\n"

    def channels_for(self):
        channel = self.kwargs["channel"]
        return [channel]


class ChannelSocket(WebSocketView):
    """A socket subscribed to the channel named in the URL; echoes messages."""

    def channels_for(self):
        channel = self.kwargs["channel"]
        return [channel]

    def on_message(self, message):
        self.send(text_data=message) if isinstance(message, str) else self.send(bytes_data=message)
