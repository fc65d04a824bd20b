"""Views exercised by the unit and end-to-end tests."""

import json

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.utils.asyncio import async_unsafe

from grip_views import (
    AsyncGripLongPollView,
    AsyncGripStreamView,
    AsyncJsonWebSocketView,
    AsyncWebSocketView,
    Channel,
    EventStreamView,
    GripLongPollView,
    GripStreamView,
    JsonWebSocketView,
    WebSocketView,
)
from grip_views.exceptions import RejectConnection
from grip_views.http import set_hold
from grip_views.protocol.instructions import Hold


class Feed(GripStreamView):
    channels = ["feed"]
    initial_body = "[open]\n"


class RoomFeed(GripStreamView):
    keep_alive = "ping\n"
    next_link = "/next/?after=1"
    status = 202

    def channels_for(self):
        room = self.kwargs["room"]
        last = self.request.GET.get("last")
        return [f"room-{room}", Channel(f"log-{room}", prev_id=last)] if last else [f"room-{room}"]

    def on_open(self):
        room = self.kwargs["room"]
        if room == "closed":
            return HttpResponseForbidden("closed room\n")
        return f"welcome to {room}\n"


class PrivateFeed(GripStreamView):
    channels = ["public", "private"]

    def can_subscribe(self, channel):
        return channel.name == "public" or self.request.GET.get("token") == "s3cret"


class Events(EventStreamView):
    channels = ["events"]
    retry = 1500


class AsyncFeed(AsyncGripStreamView):
    async def channels_for(self):
        return ["async-feed"]

    async def on_open(self):
        return "[async open]\n"


class Poll(GripLongPollView):
    channels = ["poll"]
    timeout = 30
    timeout_body = '{"items": []}'
    content_type = "application/json"

    def on_open(self):
        if self.request.GET.get("since") == "0":
            return '{"items": ["old"]}'
        return None


class Echo(WebSocketView):
    channels = ["chat"]

    def on_open(self):
        if self.request.META.get("HTTP_META_USER") == "mallory":
            self.reject("banned", status=403)
        if self.request.GET.get("greet"):
            self.send("hello")

    def on_message(self, message):
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

    def on_close(self, code):
        closes.append(code)

    def can_subscribe(self, channel):
        return channel.name != "secret"


closes: list = []


class AsyncEcho(AsyncWebSocketView):
    async def on_message(self, message):
        self.send(f"async:{message}")


class JsonChat(JsonWebSocketView):
    channels = ["json"]

    def on_message(self, message):
        self.send_json({"got": message})


def function_view(request):
    ctx = request.grip.websocket
    ctx.accept()
    ctx.send("from a function view")
    response = HttpResponse()
    response["X-Custom"] = "kept"
    return response


# -- added for the unit tests -------------------------------------------------


def grip_info(request):
    """What the middleware learnt about the request, as JSON."""
    info = request.grip
    return JsonResponse(
        {
            "proxied": info.proxied,
            "signed": info.signed,
            "features": sorted(info.features),
            "last": info.last,
            "websocket": info.websocket is not None,
        }
    )


def held_function_view(request):
    """A function view asking for a hold with set_hold()."""
    return set_hold(HttpResponse("held\n"), Hold("stream", ["fn"], keep_alive="\\ and \t"))


def not_accepting_function_view(request):
    """A WebSocket function view that forgets to accept."""
    return HttpResponse()


def refusing_function_view(request):
    """A WebSocket function view that refuses with its own status."""
    return HttpResponse("go away\n", status=401)


class NoChannelFeed(GripStreamView):
    pass


class BadChannelFeed(GripStreamView):
    channels = ["bad channel"]


class DeniedFeed(GripStreamView):
    channels = ["secret"]

    def can_subscribe(self, channel):
        return False


class ForbiddenFeed(GripStreamView):
    channels = ["forbidden"]

    def on_open(self):
        raise PermissionDenied("no")


class HookRecorder(GripStreamView):
    """Answers with what its hooks saw on self."""

    seen: list = []

    def channels_for(self):
        HookRecorder.seen.append(("channels_for", self.args, self.kwargs))
        return [f"rec-{self.kwargs['n']}"]

    def on_open(self):
        HookRecorder.seen.append(("on_open", self.args, self.kwargs))
        return HttpResponse(json.dumps({"n": self.kwargs["n"]}), content_type="application/json")


class DynamicStream(GripStreamView):
    channels = ["dyn"]

    def get_keep_alive(self):
        return self.request.GET.get("ka")

    def get_next_link(self):
        return f"/dyn/?after={self.request.GET.get('after', '0')}"


CURSOR = "7"


class CursorPoll(GripLongPollView):
    """Answers at once when the proxy's last id is behind, else holds."""

    channels = ["cursor"]
    timeout = 20

    def on_open(self):
        last = self.request.grip.last.get("cursor")
        if last is not None and last != CURSOR:
            return JsonResponse({"cursor": CURSOR, "behind": last})
        return None

    def on_timeout(self):
        return JsonResponse({"timeout": True}, status=200)


class ChannelRefusingSocket(WebSocketView):
    def channels_for(self):
        raise RejectConnection("log in first", status=401)


class SubprotocolSocket(WebSocketView):
    channels = ["sub"]

    def on_open(self):
        self.accept("chat.v1")
        self.meta["room"] = "lobby"


class PartnerOriginSocket(WebSocketView):
    channels = ["partner"]
    allowed_origins = ["https://app.partner.example"]


class AsyncJsonChat(AsyncJsonWebSocketView):
    channels = ["ajson"]

    async def on_open(self):
        request = self.request
        if "mallory" in (request.META.get("HTTP_META_USER"), request.GET.get("user")):
            raise RejectConnection("banned", status=401)

    async def on_message(self, message):
        self.send_json({"async": message})

    async def on_close(self, code):
        closes.append(("async", code))


class AsyncPoll(AsyncGripLongPollView):
    channels = ["apoll"]
    timeout = 10

    async def on_open(self):
        return "now" if self.request.GET.get("now") else None

    async def on_timeout(self):
        return "nothing yet"


@async_unsafe
def sync_only_work():
    """Stands for the ORM: raises SynchronousOnlyOperation if run on an event loop."""
    return "sync work done"


class MixedSocket(AsyncWebSocketView):
    """Async view (an async hook) whose other hooks are sync and touch sync-only code."""

    channels = ["mixed"]

    def on_open(self):
        self.send(sync_only_work())

    async def on_message(self, message):
        self.send(f"async:{message}")

    def on_close(self, code):
        closes.append(("mixed", sync_only_work()))


async def async_function_view(request):
    """A plain async def view speaking WebSocket-over-HTTP through request.grip."""
    ctx = request.grip.websocket
    ctx.accept()
    for event in ctx.events:
        if event.type == "TEXT":
            ctx.send(event.content.decode()[::-1])
    return HttpResponse()
