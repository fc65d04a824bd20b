"""The hand-written variants: what a developer writes with no GRIP library.

``plain`` writes the same GRIP headers and WebSocket-events bodies as the
libraries, trusting every request (no signature check). ``jwt`` is the same
view plus one PyJWT HS256 verification of Grip-Sig per request.
"""

import json

import jwt
from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.urls import path

STREAM_OPEN = "[stream open]\n"
WS_CONTENT_TYPE = "application/websocket-events"


def stream(request, channel):
    response = HttpResponse(STREAM_OPEN, content_type="text/plain")
    response["Grip-Hold"] = "stream"
    response["Grip-Channel"] = channel
    return response


def poll(request, channel):
    response = HttpResponse(b"", content_type="text/plain")
    response["Grip-Hold"] = "response"
    response["Grip-Channel"] = channel
    response["Grip-Timeout"] = "55"
    return response


def _event(kind, content):
    return b"%s %x\r\n%s\r\n" % (kind, len(content), content)


def echo(request, channel):
    body = request.body
    out = []
    opened = False
    pos, end = 0, len(body)
    while pos < end:
        eol = body.index(b"\r\n", pos)
        line = body[pos:eol]
        pos = eol + 2
        kind, _, size = line.partition(b" ")
        content = None
        if size:
            n = int(size, 16)
            content = body[pos : pos + n]
            pos += n + 2
        if kind == b"OPEN":
            opened = True
            out.append(b"OPEN\r\n")
            control = json.dumps({"type": "subscribe", "channel": channel})
            out.append(_event(b"TEXT", b"c:" + control.encode()))
        elif kind == b"TEXT" or kind == b"BINARY":
            out.append(_event(kind, b"m:" + content))
        elif kind == b"PING":
            out.append(_event(b"PONG", content or b""))
        elif kind == b"CLOSE":
            out.append(_event(b"CLOSE", content or b"\x03\xe8"))
    response = HttpResponse(b"".join(out), content_type=WS_CONTENT_TYPE)
    if opened:
        response["Sec-WebSocket-Extensions"] = "grip"
    return response


def signed(view):
    """One PyJWT HS256 check of Grip-Sig, as a developer would bolt it on."""
    key = settings.GRIP_KEY

    def wrapped(request, *args, **kwargs):
        token = request.META.get("HTTP_GRIP_SIG", "")
        try:
            jwt.decode(token, key, algorithms=["HS256"], issuer="pushpin", options={"require": ["exp"]})
        except jwt.InvalidTokenError:
            return HttpResponseForbidden("bad Grip-Sig\n")
        return view(request, *args, **kwargs)

    return wrapped


def patterns(name):
    wrap = signed if name == "jwt" else (lambda view: view)
    return [
        path("stream/<str:channel>/", wrap(stream)),
        path("poll/<str:channel>/", wrap(poll)),
        path("ws/<str:channel>/", wrap(echo)),
    ]
