"""a1c. What each cache in grip_views buys: every one switched off in turn.

A cache stays only where a bench row shows that it pays. Each cache below is
switched off by a bench-only patch applied around its batches (never by
editing grip_views) and the grip_views WSGI variant of benchmark a1 runs with
and without it, interleaved, on the cases whose path goes through it. Two
figures per cache: the request-level ratio (the bench row), and the cost of
the one call the cache saves, timed on its own (the function row), which
says how much a request can gain at most.
"""

from __future__ import annotations

import contextlib
import gc
import io
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bench.common import PushpinToken, Result, median, progress
from bench.requests_inproc import BY_KEY, WsgiRunner, expected_ok

TITLE = "a1c. Caches in grip_views: each one switched off, in process (WSGI handler)"


class _NoStore(dict):
    """A dict that forgets what is stored in it: a cache that never hits."""

    def __setitem__(self, key, value):
        pass


@contextlib.contextmanager
def _patched(obj, name: str, value) -> Iterator[None]:
    old = obj.__dict__[name] if isinstance(obj, type) else getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


@contextlib.contextmanager
def _replaced_everywhere(original, replacement) -> Iterator[None]:
    """Replace a function in every grip_views module holding it (``from x import f`` copies too)."""
    patched = []
    for name, module in list(sys.modules.items()):
        if name.startswith("grip_views") and module is not None:
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, replacement)
                    patched.append((module, attr))
    try:
        yield
    finally:
        for module, attr in patched:
            setattr(module, attr, original)


def _uncached(fn):
    """An lru_cache'd function without its cache (``__wrapped__`` kept for callers)."""
    raw = fn.__wrapped__

    def call(*args):
        return raw(*args)

    call.__wrapped__ = raw
    return call


@dataclass
class Cache:
    key: str
    where: str  # file: what
    what: str  # what it keeps
    cases: tuple[str, ...]  # the a1 cases whose path goes through it
    off: Callable[[], contextlib.AbstractContextManager]  # switches it off while entered
    call: Callable[[], Callable[[], object]]  # the one call it saves, ready to time


def _caches(token: str) -> list[Cache]:
    from grip_views import origins
    from grip_views.conf import GripSettings, _CachedSetting, grip_settings
    from grip_views.protocol import instructions, signature, websocket
    from grip_views.protocol.instructions import as_channel, hold_header_items, make_hold

    def hold_args():
        return ("stream", (as_channel("test"),))

    def headers_off():
        return _replaced_everywhere(
            hold_header_items, lambda hold, prefix="": tuple(instructions._build_headers(hold, prefix))
        )

    @contextlib.contextmanager
    def tokens_off():
        with _patched(signature.SignatureVerifier, "_remember", lambda self, token, exp: None):
            grip_settings.verifier._good.clear()
            yield

    def settings_off(keep: tuple[str, ...] = ()):
        @contextlib.contextmanager
        def off():
            # Each cached setting but ``keep`` read through a property: built on every access.
            cached = {n: v for n, v in vars(GripSettings).items() if isinstance(v, _CachedSetting)}
            with contextlib.ExitStack() as stack:
                for name, setting in cached.items():
                    if name not in keep:
                        stack.enter_context(_patched(GripSettings, name, property(setting.build)))
                yield

        return off

    def request():
        from django.core.handlers.wsgi import WSGIRequest

        from bench.requests_inproc import base_environ

        env, body = base_environ("gv", "ws_open")
        env["wsgi.input"] = io.BytesIO(body)
        return WSGIRequest(env)

    def ws_text(n):
        from bench.requests_inproc import ws_body

        body = ws_body(n)
        return lambda: websocket.decode_events(body)

    return [
        Cache(
            "named_channel",
            "protocol/instructions.py: _named_channel (lru_cache)",
            "one checked Channel per name",
            ("stream", "longpoll", "ws_open"),
            lambda: _patched(instructions, "_named_channel", _uncached(instructions._named_channel)),
            lambda: lambda: as_channel("test"),
        ),
        Cache(
            "cached_hold",
            "protocol/instructions.py: make_hold / _cached_hold (lru_cache)",
            "one checked Hold per arguments (and so its headers)",
            ("stream", "longpoll"),
            lambda: _patched(instructions, "_cached_hold", _uncached(instructions._cached_hold)),
            lambda: (lambda args: lambda: make_hold(*args))(hold_args()),
        ),
        Cache(
            "hold_headers",
            "protocol/instructions.py: hold_header_items (Hold._headers)",
            "a cached Hold's Grip-* headers",
            ("stream", "longpoll"),
            headers_off,
            # looked up at call time: the patch replaces the module's function
            lambda: (lambda hold: lambda: instructions.hold_header_items(hold, ""))(make_hold(*hold_args())),
        ),
        Cache(
            "subscribe_frame",
            "protocol/websocket.py: _subscribe_frame (lru_cache)",
            "the encoded subscribe control message per channel",
            ("ws_open",),
            lambda: _patched(websocket, "_subscribe_frame", _uncached(websocket._subscribe_frame)),
            lambda: lambda: websocket._subscribe_frame("test"),
        ),
        Cache(
            "event_heads",
            "protocol/websocket.py: _HEADS",
            "each event head seen lately, read (type and length)",
            ("ws_text1", "ws_text10", "ws_text100"),
            lambda: _patched(websocket, "_HEADS", _NoStore()),
            lambda: ws_text(100),
        ),
        Cache(
            "token",
            "protocol/signature.py: SignatureVerifier._good",
            "Grip-Sig tokens already verified, until they expire",
            ("stream", "ws_open", "ws_text1"),
            tokens_off,
            lambda: (lambda v: lambda: v.is_valid(token))(grip_settings.verifier),
        ),
        Cache(
            "origin",
            "origins.py: _decisions",
            "origin check decisions per (Origin, Host...)",
            ("ws_open",),
            lambda: _patched(origins, "_decisions", _NoStore()),
            lambda: (lambda r: lambda: origins.origin_allowed(r, ()))(request()),
        ),
        Cache(
            "settings",
            "conf.py: GripSettings (_CachedSetting, in its __dict__)",
            "every GRIP_* setting, checked, and the verifier (with its token cache)",
            ("stream", "ws_open", "ws_text1"),
            settings_off(),
            lambda: lambda: (grip_settings.verifier, grip_settings.prefix, grip_settings.proxy_required),
        ),
        Cache(
            "settings_but_verifier",
            "conf.py: GripSettings (_CachedSetting), the verifier kept",
            "every GRIP_* setting but the verifier",
            ("stream", "ws_open", "ws_text1"),
            settings_off(("verifier",)),
            lambda: lambda: (grip_settings.prefix, grip_settings.proxy_required, grip_settings.proxies),
        ),
    ]


def sign_test(wins: int, n: int) -> float:
    """One-sided sign test: the chance of at least ``wins`` of ``n`` by a fair coin."""
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n if n else 1.0


def _time_call(fn: Callable[[], object], budget: float) -> float:
    """Seconds per call of fn over ~budget seconds."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        took = time.perf_counter() - start
        if took >= budget / 10 or n >= 1 << 22:
            break
        n *= 4
    reps = max(1, int(n * budget / max(took, 1e-9)))
    gc.collect()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def run(ctx, res: Result) -> None:
    smoke = ctx.smoke
    rounds = 2 if smoke else 40  # many short rounds, as in a1
    budget = 0.01 if smoke else 0.025
    token = PushpinToken(ctx.key)
    wsgi = WsgiRunner([BY_KEY["gv"]])
    gc.collect()
    gc.freeze()  # as in a1: the bench's own heap stays out of every collection
    try:
        _run(ctx, res, wsgi, token, rounds, budget)
    finally:
        gc.unfreeze()


def _run(ctx, res: Result, wsgi: WsgiRunner, token, rounds: int, budget: float) -> None:
    caches = []
    for cache in _caches(token()):
        try:
            with cache.off():
                pass
        except (AttributeError, KeyError) as exc:  # the cache is gone from grip_views
            res.notes.append(f"{cache.key} ({cache.where}): not found in this tree ({exc}); not measured")
            continue
        caches.append(cache)

    # correctness with every cache off, and the variants of each case
    variants: dict[str, list[str]] = {}
    for case in ("stream", "longpoll", "ws_open", "ws_text1", "ws_text10", "ws_text100"):
        variants[case] = ["on"] + [c.key for c in caches if case in c.cases]
    by_key = {c.key: c for c in caches}
    for case, keys in variants.items():
        for key in keys[1:]:
            with by_key[key].off():
                status, headers, body = wsgi.call("gv", case, token())
            why = expected_ok(case, status, headers, body)
            res.check(f"{case} with the {key} cache off: correct answer", not why, why)

    def one(case, key, n):
        with contextlib.ExitStack() as stack:
            if key != "on":
                stack.enter_context(by_key[key].off())
            return wsgi.batch("gv", case, n, token)[1]  # CPU time, as in a1

    sizes = {
        (case, key): max(3, int(budget / one(case, key, 30)))
        for case, keys in variants.items()
        for key in keys
    }
    times: dict = {}
    calls: dict = {}
    for r in range(rounds):
        if r % 5 == 0:
            progress(f"a1c/caches rounds {r + 1}-{min(r + 5, rounds)} of {rounds}")
        for case, keys in variants.items():
            rotated = keys[r % len(keys) :] + keys[: r % len(keys)]
            for key in rotated:
                times.setdefault((case, key), []).append(one(case, key, sizes[(case, key)]))
        if r % 4:
            continue
        # the one call each cache saves, with and without it (every fourth round)
        for cache in caches:
            for state in ("on", "off") if r % 2 else ("off", "on"):
                with contextlib.ExitStack() as stack:
                    if state == "off":
                        stack.enter_context(cache.off())
                    fn = cache.call()
                    calls.setdefault((cache.key, state), []).append(_time_call(fn, 0.02))

    rows = []
    verdicts = {}
    for cache in caches:
        saved_call = median(calls[(cache.key, "off")]) - median(calls[(cache.key, "on")])
        best = None
        for case in cache.cases:
            per_round = [x / y for x, y in zip(times[(case, cache.key)], times[(case, "on")], strict=True)]
            r = median(per_round)
            slower = sum(1 for x in per_round if x > 1)
            with_us = median(times[(case, "on")]) * 1e6
            diff_us = (
                median([x - y for x, y in zip(times[(case, cache.key)], times[(case, "on")], strict=True)])
                * 1e6
            )
            on_call, off_call = (median(calls[(cache.key, s)]) * 1e6 for s in ("on", "off"))
            call_us = f"{on_call:.3f} / {off_call:.3f}"
            without_us = median(times[(case, cache.key)]) * 1e6
            p_value = sign_test(slower, len(per_round))
            pays = r >= 1.01 and p_value < 0.05
            if best is None or (pays, r) > (best[2], best[0]):
                best = (r, case, pays)
            rows.append(
                [
                    cache.key,
                    cache.where,
                    case,
                    f"{with_us:.1f}",
                    f"{without_us:.1f}",
                    f"{r:.3f}x",
                    f"{slower}/{len(per_round)} (p {p_value:.2g})",
                    f"{diff_us:+.2f}",
                    call_us,
                    "pays" if pays else "not shown",
                ]
            )
        verdicts[cache.key] = {
            "pays": bool(best and best[2]),
            "row": best[1] if best else None,
            "ratio": best[0] if best else None,
            "call_saved_us": saved_call * 1e6,
        }
    res.tables.append(
        (
            f"Each cache on (as shipped) and off (bench-only patch), CPU µs per request, median of {rounds} "
            "interleaved rounds; 'off / on' is the median of per-round ratios; 'rounds slower' counts the "
            "rounds where the request was slower without the cache, and p is the chance of as many by "
            "luck (one-sided sign test); 'pays' needs off / on >= 1.01 and p < 0.05. The call columns "
            "time, alone, the call each cache saves: its cost with / without the cache",
            [
                "cache",
                "where",
                "row",
                "on (µs)",
                "off (µs)",
                "off / on",
                "rounds slower",
                "off - on (µs, median of rounds)",
                "call on / off (µs)",
                "",
            ],
            rows,
        )
    )
    paying = [k for k, v in verdicts.items() if v["pays"]]
    res.notes.append(
        "Pays (a bench row shows it): "
        + (", ".join(f"{k} ({verdicts[k]['row']}, {verdicts[k]['ratio']:.3f}x)" for k in paying) or "none")
        + ". Not shown by any row: "
        + (", ".join(k for k, v in verdicts.items() if not v["pays"]) or "none")
        + "."
    )
    stream_us = median(times[("stream", "on")]) * 1e6
    res.notes.append(
        f"A cache whose call saves less than about 1% of a request ({stream_us / 100:.1f} µs of the "
        f"{stream_us:.0f} µs of a stream hold here) cannot show in a row on a shared 2-core machine; "
        "its call columns say what it saves at most."
    )
    res.data = {
        "us_per_request": {f"{c}|{k}": [t * 1e6 for t in ts] for (c, k), ts in times.items()},
        "call_us": {f"{k}|{s}": [t * 1e6 for t in ts] for (k, s), ts in calls.items()},
        "verdicts": verdicts,
    }
    nan = float("nan")
    ctx.plots.bars(
        res,
        "a1c_caches",
        "a1c. What a request loses with each cache switched off (0: nothing)",
        [c.key for c in caches],
        {
            case: {
                c.key: median([x - y for x, y in zip(times[(case, c.key)], times[(case, "on")], strict=True)])
                * 1e6
                if case in c.cases
                else nan
                for c in caches
            }
            for case in variants
        },
        "µs per request, off - on (median)",
    )
