"""Views driven by the end-to-end tests; every channel comes from the URL, so
each test uses channels of its own (Pushpin remembers ids per channel)."""

from django.http import HttpResponse

from grip_views import EventStreamView, GripLongPollView, GripStreamView, WebSocketView


class Stream(GripStreamView):
    initial_body = "[open]\n"

    def channels_for(self):
        channel = self.kwargs["channel"]
        return [channel]


class Events(EventStreamView):
    def channels_for(self):
        channel = self.kwargs["channel"]
        return [channel]


class Poll(GripLongPollView):
    timeout = 5
    timeout_body = "timeout\n"

    def channels_for(self):
        channel = self.kwargs["channel"]
        return [channel]

    def on_open(self):
        return "now\n" if self.request.GET.get("now") else None


class Socket(WebSocketView):
    def channels_for(self):
        channel = self.kwargs["channel"]
        return [channel]

    def on_open(self):
        if self.request.GET.get("refuse"):
            self.reject("not today", status=403)

    def on_message(self, message):
        if isinstance(message, bytes):
            self.send(message)
        elif message.startswith("nick "):
            self.meta["nick"] = message[5:]
            self.send("ok")
        elif message == "nick?":
            self.send(self.meta.get("nick", "(none)"))
        elif message.startswith("close "):
            self.close(int(message[6:]))
        elif message == "boom":
            raise RuntimeError("a bug in on_message")
        elif message.startswith("join "):
            self.subscribe(message[5:])
            self.send("joined")
        else:
            self.send(message)


def ok(request):
    return HttpResponse("ok\n")


class MemberStream(GripStreamView):
    """A per-user stream: refuses anonymous clients in on_open, before
    channels_for reads the user's email."""

    def on_open(self):
        if not self.request.user.is_authenticated:
            self.reject("log in first", status=401)
        return "[member]\n"

    def channels_for(self):
        return [f"member-{self.request.user.email}"]
