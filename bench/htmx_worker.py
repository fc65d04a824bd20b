"""The htmx benchmark's worker: one process with a history database, publishing
to the bench's Pushpin; prints its figures as JSON. Run by bench/htmx.py:
``python -m bench.htmx_worker ROUNDS CHANGES``."""

from __future__ import annotations

import json
import sys
import time
from types import SimpleNamespace


def main(rounds: int, changes: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.template.loader import render_to_string

    from grip_views import EventStreamView
    from grip_views.durable import get_sender
    from grip_views.history import get_history
    from grip_views.htmx import broadcast_fragment
    from grip_views.htmx.fragments import fragment_payload
    from grip_views.protocol.sse import format_event

    call_command("migrate", verbosity=0)
    template = "bench/todo_grip.html"
    todo = SimpleNamespace(pk=7, title="Water the plants <today>", done=True)
    as_json = {"id": 7, "title": todo.title, "done": todo.done}

    def html_change(channel: str) -> None:  # what BroadcastChangesMixin does on an update
        broadcast_fragment(channel, template, {"todo": todo}, target="#todo-7")

    def json_change(channel: str) -> None:  # the same change, published as DRF-style JSON
        EventStreamView.publish_event(
            channel, {"event": "updated", "data": as_json}, event="updated", durable=True
        )

    def html_payload(channel: str) -> None:  # render + hx-swap-oob + SSE framing, no publish
        fragment_payload(render_to_string(template, {"todo": todo}), "#todo-7")

    def json_payload(channel: str) -> None:
        format_event({"event": "updated", "data": as_json}, event="updated")

    variants = {
        "html": html_change,
        "json": json_change,
        "html (render only)": html_payload,
        "json (encode only)": json_payload,
    }
    for fn in variants.values():  # warm up: templates compiled, connections open
        fn("htmx-warm-up")
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    channels = ["htmx-warm-up"]
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            fn = variants[name]
            channel = f"htmx-{name.split()[0]}-{r}"
            channels.append(channel)
            start = time.perf_counter()
            for _ in range(changes):
                fn(channel)
            times[name].append((time.perf_counter() - start) / changes)
    idle = get_sender().wait_idle(60)  # a send the sender's thread took over
    history = get_history()
    return {
        "times": times,
        "idle": idle,
        "unsent": history.unsent_channels(),
        "stored": sum(history.last_id(channel) for channel in set(channels)),
        "published": 2 * rounds * changes + 2,
        "bytes": {
            "html": len(fragment_payload(render_to_string(template, {"todo": todo}), "#todo-7")["sse"]),
            "json": len(format_event({"event": "updated", "data": as_json}, event="updated")),
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))))
