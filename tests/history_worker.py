"""One process of the history tests: ``python -m tests.history_worker CMD [ARGS]``.

``migrate``; ``check`` (tests/history_checks.py on the configured store);
``append CHANNEL N`` (N appends, each in its own transaction; prints the ids);
``presence-check``; ``presence-join|presence-leave CHANNEL N TAG`` (N connections of one member).
Configured by the environment (tests/settings_history.py).
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings_history")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from grip_views.history import get_history

    cmd = argv[0]
    if cmd == "migrate":
        call_command("migrate", "grip_views", verbosity=0)
    elif cmd == "check":
        from tests.history_checks import check_store

        check_store(get_history())
        print("ok")
    elif cmd == "append":
        channel, count = argv[1], int(argv[2])
        store = get_history()
        ids = []
        for n in range(count):
            with transaction.atomic():
                ids.append(store.append(channel, {"sse": f"data: {os.getpid()}-{n}\n\n"}))
        print(json.dumps(ids))
    elif cmd == "presence-check":
        from grip_views.presence import get_presence
        from tests.presence_checks import check_store as check_presence

        check_presence(get_presence())
        print("ok")
    elif cmd in ("presence-join", "presence-leave"):
        # N connections of one member: print how many joins (or leaves) this process was told of.
        import time

        from grip_views.presence import get_presence

        channel, count, tag = argv[1], int(argv[2]), argv[3]
        store, now, news = get_presence(), time.time(), 0
        for n in range(count):
            if cmd == "presence-join":
                changes = store.join(channel, "same-user", f"{tag}-{n}", {"id": "same-user"}, now + 300, now)
            else:
                changes = store.leave(f"{tag}-{n}", now)
            news += sum(c.kind in ("join", "leave") for c in changes)
        print(news)
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
