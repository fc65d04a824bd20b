"""The resume benchmark's worker: one process with a SQLite history; prints its
figures as JSON. Run by bench/resume.py: ``python -m bench.resume_worker MISSED ROUNDS N``."""

from __future__ import annotations

import gc
import io
import json
import os
import sys
import time


def main(missed: int, rounds: int, n: int) -> dict:
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command

    from bench.common import PushpinToken
    from bench.requests_inproc import base_environ
    from grip_views.history import get_history

    call_command("migrate", verbosity=0)
    store = get_history()
    channel = "resume"
    ids = [store.append(channel, {"sse": f"data: event {i}\n\n"}) for i in range(missed + 1)]
    store.mark_sent(channel, ids)  # stored and acknowledged: nothing for the sender to do
    handler = WSGIHandler()
    token = PushpinToken(os.environ["BENCH_GRIP_KEY"])
    env, _ = base_environ("events", "stream")
    env["PATH_INFO"] = f"/events/{channel}/"
    env["HTTP_LAST_EVENT_ID"] = str(ids[0])  # the client saw the first event: `missed` behind

    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, dict(headers)

    def one() -> bytes:
        e = dict(env)
        e["HTTP_GRIP_SIG"] = token()
        e["wsgi.input"] = io.BytesIO(b"")
        resp = handler(e, start_response)
        try:
            return b"".join(resp)
        finally:
            resp.close()

    body = one()
    replayed = [line for line in body.split(b"\n") if line.startswith(b"data: event ")]
    last_ids = [line for line in body.split(b"\n") if line.startswith(b"id: ")]
    times = []
    gc.collect()
    for _ in range(rounds):
        start = time.perf_counter()
        cpu = time.process_time()
        for _ in range(n):
            one()
        times.append(((time.perf_counter() - start) / n, (time.process_time() - cpu) / n))
    return {
        "status": got["status"],
        "hold": got["headers"].get("Grip-Hold"),
        "channel": got["headers"].get("Grip-Channel", ""),
        "replayed": len(replayed),
        "first": replayed[0].decode() if replayed else "",
        "last": replayed[-1].decode() if replayed else "",
        "last_id": last_ids[-1].decode() if last_ids else "",
        "expected_last_id": str(ids[-1]),
        "bytes": len(body),
        "times": times,
    }


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:4]))))
