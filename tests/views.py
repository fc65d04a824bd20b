"""Views exercised by the unit and end-to-end tests."""

from django.http import HttpResponse, HttpResponseForbidden

from grip_views import (
    Channel,
    EventStreamView,
    GripLongPollView,
    GripStreamView,
    JsonWebSocketView,
    WebSocketView,
)


class Feed(GripStreamView):
    channels = ["feed"]
    initial_body = "[open]\n"


class RoomFeed(GripStreamView):
    keep_alive = "ping\n"
    next_link = "/next/?after=1"
    status = 202

    def channels_for(self, request, room):
        return [f"room-{room}", Channel(f"log-{room}", prev_id=request.GET.get("last"))] if request.GET.get("last") else [f"room-{room}"]

    def on_open(self, request, room):
        if room == "closed":
            return HttpResponseForbidden("closed room\n")
        return f"welcome to {room}\n"


class PrivateFeed(GripStreamView):
    channels = ["public", "private"]

    def can_subscribe(self, request, channel):
        return channel.name == "public" or request.GET.get("token") == "s3cret"


class Events(EventStreamView):
    channels = ["events"]
    retry = 1500


class AsyncFeed(GripStreamView):
    async def channels_for(self, request, *args, **kwargs):
        return ["async-feed"]

    async def on_open(self, request, *args, **kwargs):
        return "[async open]\n"


class Poll(GripLongPollView):
    channels = ["poll"]
    timeout = 30
    timeout_body = '{"items": []}'
    content_type = "application/json"

    def on_open(self, request):
        if request.GET.get("since") == "0":
            return '{"items": ["old"]}'
        return None


class Echo(WebSocketView):
    channels = ["chat"]

    def on_open(self, request):
        if request.META.get("HTTP_META_USER") == "mallory":
            self.reject("banned", status=403)
        if request.GET.get("greet"):
            self.send("hello")

    def on_message(self, request, message):
        if message == "join secret":
            self.send("joined" if self.subscribe("secret") else "denied")
        elif message == "leave":
            self.unsubscribe("chat")
        elif message == "whoami":
            self.send(self.meta.get("user", "anonymous"))
        elif isinstance(message, str) and message.startswith("name "):
            self.meta["user"] = message[5:]
        elif message == "bye":
            self.close(4001, "bye")
        elif message == "kick":
            self.reject("kicked")
        elif message == "detach":
            self.detach()
        else:
            self.send(text_data=message) if isinstance(message, str) else self.send(bytes_data=message)

    def on_close(self, request, code):
        closes.append(code)

    def can_subscribe(self, request, channel):
        return channel.name != "secret"


closes: list = []


class AsyncEcho(WebSocketView):
    async def on_message(self, request, message):
        self.send(f"async:{message}")


class JsonChat(JsonWebSocketView):
    channels = ["json"]

    def on_message(self, request, message):
        self.send_json({"got": message})


def function_view(request):
    ctx = request.grip.websocket
    ctx.accept()
    ctx.send("from a function view")
    response = HttpResponse()
    response["X-Custom"] = "kept"
    return response
