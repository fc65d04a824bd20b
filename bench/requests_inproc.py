"""a1. Server cost per request, in process.

Django's WSGI handler is called directly with prebuilt WSGI environs that carry
Grip-Sig exactly as Pushpin 1.36 sends it (HS256, {"iss": "pushpin",
"exp": now + 3600}, one token per wall-clock second). Four variants, each with
its own handler and middleware list, run interleaved round after round:

- gv:    grip_views (GripMiddleware + class-based views)
- dg:    django-grip 3.5.2 (its middleware + function views)
- plain: hand-written view, same headers/body, no signature check
- jwt:   plain + one PyJWT HS256 check per request
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import pstats
import time

from bench.common import PushpinToken, Result, Target, median, progress

VARIANTS = {
    "gv": ["grip_views.middleware.GripMiddleware"],
    "dg": ["django_grip.GripMiddleware"],
    "plain": [],
    "jwt": [],
}
LABELS = {"gv": "grip_views", "dg": "django-grip", "plain": "plain (no sig check)", "jwt": "plain + PyJWT"}
MESSAGE = b"0123456789abcdefghij"  # 20 bytes
HOST = "127.0.0.1:8000"


def ws_body(n_text: int | None) -> bytes:
    if n_text is None:
        return b"OPEN\r\n"
    return b"TEXT %x\r\n%s\r\n" % (len(MESSAGE), MESSAGE) * n_text


CASES = {
    # name: (method, path suffix, body)
    "stream": ("GET", "stream/test/", b""),
    "longpoll": ("GET", "poll/test/", b""),
    "ws_open": ("POST", "ws/test/", ws_body(None)),
    "ws_text1": ("POST", "ws/test/", ws_body(1)),
    "ws_text10": ("POST", "ws/test/", ws_body(10)),
    "ws_text100": ("POST", "ws/test/", ws_body(100)),
}


def base_environ(variant: str, case: str) -> tuple[dict, bytes]:
    method, suffix, body = CASES[case]
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": f"/{variant}/{suffix}",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": HOST,
        "HTTP_USER_AGENT": "grip-views-bench",
        "HTTP_ACCEPT": "*/*",
        "HTTP_X_FORWARDED_FOR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if method == "POST":
        # the headers Pushpin sends with WebSocket-over-HTTP
        env.update(
            {
                "CONTENT_TYPE": "application/websocket-events",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_CONNECTION_ID": "4f1c2b5e-bench",
                "HTTP_SEC_WEBSOCKET_EXTENSIONS": "grip",
                "HTTP_ORIGIN": f"http://{HOST}",
            }
        )
    return env, body


def _start_response(status, headers, exc_info=None):
    return None


def call(handler, env: dict, body: bytes, token: str | None) -> tuple[str, dict, bytes]:
    """One request, for the correctness checks: (status, headers, body)."""
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"] = status
        got["headers"] = {k.lower(): v for k, v in headers}

    e = dict(env)
    if token is not None:
        e["HTTP_GRIP_SIG"] = token
    e["wsgi.input"] = io.BytesIO(body)
    resp = handler(e, start_response)
    try:
        content = b"".join(resp)
    finally:
        resp.close()
    return got["status"], got["headers"], content


def batch(handler, env: dict, body: bytes, token, n: int, collect: bool = True) -> float:
    """Seconds per request over n requests."""
    bytes_io = io.BytesIO
    copy = env.copy
    sr = _start_response
    if collect:
        gc.collect()
    start = time.perf_counter()
    for _ in range(n):
        e = copy()
        e["HTTP_GRIP_SIG"] = token()
        e["wsgi.input"] = bytes_io(body)
        resp = handler(e, sr)
        for _chunk in resp:
            pass
        resp.close()
    return (time.perf_counter() - start) / n


def make_handlers() -> dict:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    handlers = {}
    for variant, middleware in VARIANTS.items():
        with override_settings(MIDDLEWARE=middleware):
            handlers[variant] = WSGIHandler()
    return handlers


# ---- what a correct answer looks like -------------------------------------


def _events(body: bytes) -> list:
    from grip_views.protocol.websocket import decode_events

    out = []
    for etype, content in decode_events(body):
        if content is not None and content.startswith(b"c:"):
            content = ("c", json.loads(content[2:]))
        out.append((etype, content))
    return out


def expected_ok(case: str, status: str, headers: dict, body: bytes) -> str:
    """'' when the answer is what Pushpin needs for this case, else why not."""
    if not status.startswith("200"):
        return f"status {status}"
    channel = headers.get("grip-channel", "").split(";")[0].strip()
    if case == "stream":
        if headers.get("grip-hold") != "stream" or channel != "test":
            return f"hold {headers.get('grip-hold')!r} channel {channel!r}"
        if body != b"[stream open]\n":
            return f"body {body[:40]!r}"
    elif case == "longpoll":
        if headers.get("grip-hold") != "response" or channel != "test":
            return f"hold {headers.get('grip-hold')!r} channel {channel!r}"
        if headers.get("grip-timeout") != "55":
            return f"Grip-Timeout {headers.get('grip-timeout')!r}"
    else:
        if headers.get("content-type") != "application/websocket-events":
            return f"content type {headers.get('content-type')!r}"
        events = _events(body)
        if case == "ws_open":
            sub = {"type": "subscribe", "channel": "test"}
            if events != [("OPEN", None), ("TEXT", ("c", sub))]:
                return f"events {events!r}"[:120]
            if "grip" not in headers.get("sec-websocket-extensions", ""):
                return "no Sec-WebSocket-Extensions: grip"
        else:
            n = int(case[len("ws_text") :])
            if events != [("TEXT", b"m:" + MESSAGE)] * n:
                return f"events {events[:3]!r}"[:120]
    return ""


TITLE = "a1. Server cost per request, in process (WSGI handler)"


def run(ctx, res: Result) -> None:
    import jwt

    smoke = ctx.smoke
    rounds = 2 if smoke else 7
    budget = 0.01 if smoke else 0.12
    handlers = make_handlers()
    token = PushpinToken(ctx.key)

    # correctness: every variant answers every case as Pushpin needs
    shapes = {}
    for case in CASES:
        for variant, handler in handlers.items():
            env, body = base_environ(variant, case)
            status, headers, content = call(handler, env, body, token())
            why = expected_ok(case, status, headers, content)
            res.check(f"{case} {variant}: correct answer", not why, why)
            shapes[(case, variant)] = sorted(
                k for k in headers if k.startswith("grip-") or k.startswith("sec-websocket")
            )
    # a forged or missing signature gets no hold from grip_views
    env, body = base_environ("gv", "stream")
    forged = jwt.encode(
        {"iss": "pushpin", "exp": int(time.time()) + 3600},
        "a wrong key of more than 32 bytes",
        algorithm="HS256",
    )
    for what, tok in (("forged", forged), ("missing", None)):
        status, headers, _ = call(handlers["gv"], env, body, tok)
        res.check(
            f"grip_views gives no hold with a {what} Grip-Sig",
            "grip-hold" not in headers,
            f"{status} {headers.get('grip-hold')}",
        )

    # calibrate: requests per batch so that one batch takes ~budget seconds
    sizes = {}
    for case in CASES:
        for variant, handler in handlers.items():
            env, body = base_environ(variant, case)
            per = batch(handler, env, body, token, 30)
            sizes[(case, variant)] = max(20, int(budget / per))

    times: dict = {}
    order = list(handlers)
    for r in range(rounds):
        progress(f"a1/in-process round {r + 1}/{rounds}")
        for case in CASES:
            rotated = order[r % len(order) :] + order[: r % len(order)]
            for variant in rotated:
                env, body = base_environ(variant, case)
                t = batch(handlers[variant], env, body, token, sizes[(case, variant)])
                times.setdefault((case, variant), []).append(t)

    def ratio(case, a, b):
        return median([x / y for x, y in zip(times[(case, a)], times[(case, b)], strict=True)])

    rows = []
    for case in CASES:
        row = [case] + [f"{median(times[(case, v)]) * 1e6:.1f}" for v in handlers]
        extra = median(times[(case, "gv")]) - median(times[(case, "plain")])
        row += [
            f"{ratio(case, 'gv', 'plain'):.2f}x",
            f"{ratio(case, 'gv', 'jwt'):.2f}x",
            f"{ratio(case, 'gv', 'dg'):.2f}x",
            f"{extra * 1e6:+.1f}",
        ]
        rows.append(row)
    res.tables.append(
        (
            f"µs per request, median of {rounds} interleaved rounds; ratios are medians of per-round ratios",
            ["case"]
            + [LABELS[v] for v in handlers]
            + ["gv / plain", "gv / plain+JWT", "gv / dg", "gv - plain (µs)"],
            rows,
        )
    )
    res.tables.append(
        (
            "GRIP headers each variant answers with (checked equal in meaning)",
            ["case"] + [LABELS[v] for v in handlers],
            [[c] + [", ".join(shapes[(c, v)]) or "-" for v in handlers] for c in CASES],
        )
    )

    res.targets.append(
        Target("in-process: signed stream hold / plain (no sig)", ratio("stream", "gv", "plain"), 1.15, "<=")
    )
    res.targets.append(
        Target("in-process: signed WS OPEN / plain (no sig)", ratio("ws_open", "gv", "plain"), 1.15, "<=")
    )
    worst = max(CASES, key=lambda c: ratio(c, "gv", "dg"))
    res.targets.append(
        Target(
            "in-process: every case / django-grip (worst case)",
            ratio(worst, "gv", "dg"),
            0.5,
            "<=",
            note=f"worst: {worst}",
        )
    )
    res.targets.append(
        Target(
            "in-process: WS with 100 TEXT events / plain + PyJWT",
            ratio("ws_text100", "gv", "jwt"),
            1.10,
            "<=",
        )
    )
    res.data = {"us_per_request": {f"{c}|{v}": [t * 1e6 for t in ts] for (c, v), ts in times.items()}}
    res.notes.append(
        "The base middleware list is empty for all four variants, so each pays "
        "only for its own GRIP layer: the hardest baseline for the ratios."
    )
    res.notes.append(
        "Grip-Sig changes once per wall-clock second, as Pushpin's does; a "
        "token-reusing verifier sees one new token per second."
    )

    # a missed grip_views target: show where grip_views spends the time
    for t in res.targets:
        if not t.met and not smoke:
            case = {"signed stream hold": "stream", "signed WS OPEN": "ws_open", "WS with 100": "ws_text100"}
            which = next((v for k, v in case.items() if k in t.name), worst)
            profiles = res.data.setdefault("profiles", {})
            profiles[which] = profile(handlers["gv"], which, token)
    ctx.plots.inproc(res, times, list(CASES), [LABELS[v] for v in handlers], list(handlers))


def profile(handler, case: str, token, n: int = 3000) -> str:
    """cProfile of n grip_views requests of one case: the top entries by own time."""
    env, body = base_environ("gv", case)
    prof = cProfile.Profile()
    gc.collect()
    prof.enable()
    batch(handler, env, body, token, n, collect=False)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats("tottime")
    stats.print_stats(20)
    own = _table(out.getvalue(), 22)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats("grip_views", 20)
    cumulative = _table(out.getvalue(), 22)
    return (
        f"{n} requests of {case} through grip_views\n\nby own time:\n{own}\n\n"
        f"grip_views functions by cumulative time:\n{cumulative}"
    )


def _table(text: str, lines: int) -> str:
    rows = text.splitlines()
    start = next((i for i, ln in enumerate(rows) if "ncalls" in ln), 0)
    return "\n".join(rows[start : start + lines])
