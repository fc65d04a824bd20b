"""b. The WebSocket-events codec: grip_views vs gripcontrol 4.4.

Encode and decode of 1 ... 100,000 TEXT events of 20 bytes and of one 1 MiB
message; the figure is time per event. gripcontrol's encoder is quadratic
(``out += ...`` on bytes): at 100,000 events one call takes minutes, so it is
not run there and its time is shown as "not run".
"""

from __future__ import annotations

import gc
import time

from bench.common import Result, median, progress

MIB = 1024 * 1024
GC_ENCODE_MAX = 10_000  # gripcontrol encode above this takes > 1 min per call

# Bodies gripcontrol accepts (or misreads) that a strict decoder must refuse.
MALFORMED = {
    "truncated content": b"TEXT a\r\nabc",
    "missing CRLF after content": b"TEXT 3\r\nabcXXTEXT 1\r\nz\r\n",
    "length past the end": b"TEXT ff\r\nabc\r\n",
    "no CRLF after the type line": b"OPEN",
    "length not hexadecimal": b"TEXT zz\r\nabc\r\n",
}


def _time_per_call(fn, arg, budget: float) -> float:
    """Seconds per call: as many calls as fit in budget (at least one).

    The heap is frozen first: otherwise a full collection over everything this
    process has loaded (Django, matplotlib, the cases: ~110,000 objects, ~45 ms
    each) lands in whichever variant crosses the threshold, and a 50 ms window
    measures the collector, not the codec. Both libraries are timed the same way.
    """
    gc.collect()
    gc.freeze()
    try:
        calls, start = 0, time.perf_counter()
        while True:
            fn(arg)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= budget:
                return elapsed / calls
    finally:
        gc.unfreeze()


TITLE = "b. WebSocket-events codec (grip_views vs gripcontrol)"


def run(ctx, res: Result) -> None:
    from gripcontrol import WebSocketEvent as GcEvent
    from gripcontrol import decode_websocket_events, encode_websocket_events

    from grip_views.protocol.websocket import ProtocolError, WebSocketEvent, decode_events, encode_events

    smoke = ctx.smoke
    sizes = [1, 100, 1000] if smoke else [1, 100, 10_000, 100_000]
    rounds = 2 if smoke else 5
    budget = 0.002 if smoke else 0.05

    cases = []  # (label, n_events, gv events, gc events, body)
    for n in sizes:
        payload = b"0123456789abcdefghij"
        cases.append(
            (
                f"{n:,} x 20 B",
                n,
                [WebSocketEvent("TEXT", payload)] * n,
                [GcEvent("TEXT", payload) for _ in range(n)],
                None,
            )
        )
    big = bytes(range(256)) * (MIB // 256)
    cases.append(("1 x 1 MiB", 1, [WebSocketEvent("TEXT", big)], [GcEvent("TEXT", big)], None))
    cases = [(label, n, ev, gev, encode_events(ev)) for label, n, ev, gev, _ in cases]

    # correctness first: same bytes as gripcontrol, and a lossless round trip
    for label, n, ev, gev, body in cases:
        if n <= GC_ENCODE_MAX:
            res.check(f"encode {label}: same bytes as gripcontrol", body == encode_websocket_events(gev))
        decoded = decode_events(body)
        res.check(f"decode {label}: round trip", decoded == list(ev), f"{len(decoded)} events")
    rows_bad = []
    for what, body in MALFORMED.items():
        try:
            decode_events(body)
            gv = "accepted"
        except ProtocolError:
            gv = "ProtocolError"
        try:
            got = decode_websocket_events(body)
            gcr = f"accepted: {[(e.type, e.content) for e in got]!r}"[:60]
        except Exception as exc:
            gcr = f"{type(exc).__name__}"
        res.check(f"decode refuses {what}", gv == "ProtocolError", gv)
        rows_bad.append([what, repr(body)[:40], gv, gcr])

    # timings: rounds x cases, the two libraries interleaved (order alternates)
    times: dict = {}
    for r in range(rounds):
        progress(f"b/codec round {r + 1}/{rounds}")
        for label, n, ev, gev, body in cases:
            ops = [
                ("encode", "grip_views", encode_events, ev),
                ("decode", "grip_views", decode_events, body),
                ("decode", "gripcontrol", decode_websocket_events, body),
            ]
            if n <= GC_ENCODE_MAX:
                ops.append(("encode", "gripcontrol", encode_websocket_events, gev))
            if r % 2:
                ops.reverse()
            for op, lib, fn, arg in ops:
                t = _time_per_call(fn, arg, budget)
                times.setdefault((op, lib, label), []).append(t / n)

    def per_event(op, lib, label):
        return median(times.get((op, lib, label), []))

    def speedup(op, label):
        """Median over rounds of gripcontrol time / grip_views time (same round)."""
        gv = times.get((op, "grip_views", label), [])
        gcl = times.get((op, "gripcontrol", label), [])
        return median([b / a for a, b in zip(gv, gcl, strict=True)]) if gcl else float("nan")

    rows, plot = [], {}
    for label, n, *_ in cases:
        row = [label]
        for op in ("encode", "decode"):
            gv, gcl = per_event(op, "grip_views", label), per_event(op, "gripcontrol", label)
            row += [_us(gv), _us(gcl) if gcl == gcl else "not run (quadratic)", _x(speedup(op, label))]
            plot[(op, label)] = (n, gv, gcl)
        rows.append(row)
    res.tables.append(
        (
            f"Time per event (median of {rounds} rounds); speed-up = gripcontrol / grip_views, "
            "median of per-round ratios",
            [
                "events",
                "encode grip_views",
                "encode gripcontrol",
                "encode speed-up",
                "decode grip_views",
                "decode gripcontrol",
                "decode speed-up",
            ],
            rows,
        )
    )
    res.tables.append(("Malformed bodies", ["body", "bytes", "grip_views", "gripcontrol"], rows_bad))

    labels = [c[0] for c in cases]
    mid = next((lbl for lbl in labels if lbl.startswith("10,000 ")), labels[-2])
    small = next(lbl for lbl in labels if lbl.startswith("100 "))
    large = labels[-2]  # the largest event count
    from bench.common import Target

    res.targets.append(
        Target(
            f"encode speed-up vs gripcontrol at {mid.split(' x')[0]} events", speedup("encode", mid), 50, ">="
        )
    )
    lin = per_event("encode", "grip_views", large) / per_event("encode", "grip_views", small)
    res.targets.append(
        Target(f"encode linear: per-event time at {large.split(' x')[0]} / at 100", lin, 1.5, "<=")
    )
    worst = min(labels, key=lambda lbl: speedup("decode", lbl))
    res.targets.append(
        Target(
            "decode speed-up vs gripcontrol, worst size",
            speedup("decode", worst),
            1.0,
            ">=",
            note=f"worst at {worst}",
        )
    )
    res.data = {"per_event": {f"{op}|{lib}|{label}": v for (op, lib, label), v in times.items()}}
    res.notes.append(
        "gripcontrol's encoder is not run above 10,000 events: it appends to a "
        "bytes object event by event (quadratic); at 10,000 events one call already "
        "takes about a second here."
    )
    ctx.plots.codec(res, plot, labels)


def _us(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    return f"{seconds * 1e6:.3f} µs" if seconds < 1e-4 else f"{seconds * 1e3:.2f} ms"


def _x(v: float) -> str:
    return "-" if v != v else f"{v:.1f}x"
