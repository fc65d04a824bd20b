"""A worker of benchmark a1: requests served by one grip_views tree (0.1, or this one).

Two versions of one package cannot live in one process, so the bench starts
a worker with the 0.1 tree first on ``sys.path``: its working directory is
the directory holding that tree's ``grip_views`` (``python -m`` puts the
working directory first) and the repository is on ``PYTHONPATH``, for
``bench`` itself. An identical worker runs this tree's grip_views (working
directory: the repository), so that before and after are measured in two
alike processes. Each serves the same requests as the bench process, through
the same code (bench/requests_inproc.py), one batch per question, so the bench
interleaves them with its own variants. Nothing else runs meanwhile: the
bench waits for the answer.

Questions and answers are JSON lines: on stdin ``{"op": "call" | "batch",
"variant", "case", "token" | "n"}``, on stdout the answer; the first line out
says where ``grip_views`` was imported from. End of stdin ends the worker.
"""

from __future__ import annotations

import base64
import gc
import json
import os
import sys


def main() -> int:
    spec = json.loads(sys.argv[1])  # [{"key", "prefix", "middleware", "runner"}, ...]
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # a stray print must not break the protocol
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.apps.settings_inproc_base"
    import django

    django.setup()
    import grip_views
    from bench.common import PushpinToken
    from bench.requests_inproc import AsgiRunner, Variant, WsgiRunner

    variants = [Variant(s["key"], s["key"], s["prefix"], tuple(s["middleware"]), s["runner"]) for s in spec]
    wsgi = WsgiRunner([v for v in variants if not v.runner.endswith("asgi")])
    asgi = AsgiRunner([v for v in variants if v.runner.endswith("asgi")])
    runners = {v.key: asgi if v.runner.endswith("asgi") else wsgi for v in variants}
    token = PushpinToken(os.environ["BENCH_GRIP_KEY"])
    gc.collect()
    gc.freeze()  # as the bench process does
    out.write(json.dumps({"grip_views": grip_views.__file__, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        ask = json.loads(line)
        try:
            run = runners[ask["variant"]]
            if ask["op"] == "call":
                status, headers, body = run.call(ask["variant"], ask["case"], ask["token"])
                answer = {"status": status, "headers": headers, "body": base64.b64encode(body).decode()}
            else:
                answer = {"s": list(run.batch(ask["variant"], ask["case"], ask["n"], token))}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
    asgi.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
