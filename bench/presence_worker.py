"""One store of the presence benchmark: ``python -m bench.presence_worker MEMBERS ROUNDS OPS``.

Configured by bench/apps/settings_presence.py; prints one JSON object of
figures (seconds per call, one pair per round of ``OPS`` calls).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid


def _per_op(fn, n: int) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``fn(i)`` for i in range(n)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def _round(presence, room: str, tag: str, ops: int) -> tuple:
    """``ops`` members join (one connection each), beat once, and leave."""
    info = {"id": 0, "username": "someone"}
    joined = _per_op(lambda i: presence.join(room, f"m{i}", f"{tag}-{i}", info), ops)
    beat = _per_op(lambda i: presence.refresh(f"{tag}-{i}"), ops)
    left = _per_op(lambda i: presence.leave(f"{tag}-{i}"), ops)
    return joined, beat, left


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.apps.settings_presence")
    import django

    django.setup()
    from django.core.management import call_command

    from grip_views import presence
    from grip_views.testing import outbox

    call_command("migrate", "grip_views", verbosity=0)
    members, rounds, ops = int(argv[0]), int(argv[1]), int(argv[2])
    figures: dict[str, list] = {"join": [], "leave": [], "heartbeat": [], "members": [], "sweep_idle": []}
    for r in range(-1, rounds):  # round -1 warms up (connections, scripts): not counted
        joined, beat, left = _round(presence, f"bench-{uuid.uuid4().hex[:8]}", f"r{r}", ops)
        outbox.clear()
        if r >= 0:
            figures["join"].append(joined)
            figures["heartbeat"].append(beat)
            figures["leave"].append(left)
    # members() of a room of `members` members, one connection each.
    room = f"bench-big-{uuid.uuid4().hex[:8]}"
    store, now = presence.get_presence(), time.time()
    for i in range(members):
        store.join(room, f"m{i}", f"big-{i}", {"id": i, "username": f"user{i}"}, now + 3600, now)
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        found = len(presence.members(room))
        figures["members"].append((time.perf_counter() - wall, time.process_time() - cpu))
        assert found == members, found
        figures["sweep_idle"].append(_per_op(lambda i: presence.sweep(), 5))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
