"""Instructions per request of the in-process cases (a1), counted by callgrind.

Timings on a shared machine wander by several per cent; an instruction count
does not, so it is what to iterate on when cutting a hot path. This runs the
WSGI handlers that bench/requests_inproc.py builds (one per variant, each
with its own middleware and URL list) under ``valgrind --tool=callgrind``:
each (case, variant) batch runs inside one ``functools.reduce`` call, and
callgrind collects only while that C function is on the stack
(``--toggle-collect``) and dumps a profile as it returns (``--dump-after``),
so every batch gets its own count, free of start-up and of the other batches.

    python -m bench.callgrind [--cases stream,ws_open] [--variants gv,floor] [-n 200]
    python -m bench.callgrind --durable [-n 1000]

prints thousands of instructions per request. One Grip-Sig token serves every
request (its signature is checked once, in the warm-up), so runs repeat to
the instruction.

``--durable`` counts a durable publish instead (``publish(..., durable=True)``,
one per transaction and 100 per transaction, on SQLite in a tmpfs file, as
bench l's floor: stored and committed, the sender thread not started, so
nothing is sent); its runs repeat to within about a thousand instructions.

Not part of ``python -m bench``: it is a tool, not a result.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_VARIANTS = ("gv", "floor", "plain", "dg")


def parse_args(argv: list[str]) -> argparse.Namespace:
    from bench.requests_inproc import CASES

    parser = argparse.ArgumentParser(prog="python -m bench.callgrind", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated a1 cases")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help="comma-separated a1 variants")
    parser.add_argument("-n", type=int, default=200, help="requests counted per (case, variant)")
    parser.add_argument("--warmup", type=int, default=50, help="requests run first, not counted")
    parser.add_argument("--durable", action="store_true", help="count durable publishes (bench l's floor)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.durable:
        if args.n % 100 or args.warmup % 100:
            parser.error(
                "--durable counts whole transactions of 100: -n and --warmup must be multiples of 100"
            )
        args.cases, args.variants = ",".join(DURABLE_CASES), "gv"
    return args


#: --durable's cases: publishes per transaction.
DURABLE_CASES = {"durable-1": 1, "durable-100": 100}


def inner_durable(args: argparse.Namespace) -> None:
    """Under valgrind: durable publishes, each case's inside one functools.reduce call."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.apps.settings_durable"
    os.environ.setdefault("BENCH_PUBLISH_URL", "http://127.0.0.1:9")  # never reached: nothing is sent
    shm = Path("/dev/shm")
    tmp = tempfile.mkdtemp(prefix="grip-views-callgrind-", dir=shm if shm.is_dir() else None)
    os.environ["BENCH_DURABLE_DB"] = str(Path(tmp) / "db.sqlite3")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    import grip_views
    from bench.publishing import _fmt
    from grip_views.durable import get_sender

    call_command("migrate", verbosity=0)
    sender = get_sender()
    # The publishing thread alone: the commit still wakes the sender (after_commit),
    # whose thread is never started.
    sender._ensure_thread = lambda: None  # type: ignore[method-assign]
    sent = iter(range(1, 10**9))

    def publishes(per: int, n: int) -> None:
        for _ in range(n // per):
            with transaction.atomic():
                for _ in range(per):
                    grip_views.publish("callgrind", _fmt(f"#{next(sent)}\n"), durable=True)

    order = []
    for case in args.cases.split(","):
        per = DURABLE_CASES[case]
        publishes(per, args.warmup)
        gc.collect()
        gc.freeze()
        functools.reduce(lambda _, __: publishes(per, args.n), [0], 0)
        gc.unfreeze()
        order.append((case, "gv"))
    shutil.rmtree(tmp)
    print(json.dumps(order))


def inner(args: argparse.Namespace) -> None:
    """Under valgrind: run every batch, each inside one functools.reduce call."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.apps.settings_inproc"
    import django
    import jwt

    django.setup()
    from bench.common import SIG_ISS
    from bench.requests_inproc import BY_KEY, WsgiRunner, base_environ, batch, expected_ok

    variants = args.variants.split(",")
    cases = args.cases.split(",")
    wsgi = WsgiRunner([BY_KEY[v] for v in variants])
    signed = jwt.encode({"iss": SIG_ISS, "exp": int(time.time()) + 3600}, os.environ["BENCH_GRIP_KEY"])

    def token() -> str:
        return signed

    order = []
    for case in cases:
        for key in variants:
            why = expected_ok(case, *wsgi.call(key, case, signed))
            if why:
                raise SystemExit(f"{case} {key}: wrong answer: {why}")
            env, body = base_environ(wsgi.prefixes[key], case)
            handler = wsgi.handlers[key]
            batch(handler, env, body, token, args.warmup)
            gc.collect()
            gc.freeze()  # as a1 does: the heap so far stays out of the batch's collections
            # The counted part: callgrind collects only inside functools.reduce.
            functools.reduce(lambda _, __: batch(handler, env, body, token, args.n, collect=False), [0], 0)
            gc.unfreeze()
            order.append((case, key))
    print(json.dumps(order))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.inner:
        (inner_durable if args.durable else inner)(args)
        return 0
    env = dict(os.environ, BENCH_GRIP_KEY="bench-" + "0" * 32, PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory(prefix="grip-views-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            "--dump-after=functools_reduce",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.callgrind",
            "--inner",
            f"--cases={args.cases}",
            f"--variants={args.variants}",
            f"-n{args.n}",
            f"--warmup={args.warmup}",
            *(["--durable"] if args.durable else []),
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            return done.returncode
        order = json.loads(done.stdout.strip().splitlines()[-1])
        dumps = sorted(Path(tmp).glob("callgrind.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
        counts = []
        for dump in dumps:
            total = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.M)
            if total and int(total[1]) > 0:
                counts.append(int(total[1]))
    if len(counts) != len(order):
        print(f"expected {len(order)} profiles, got {len(counts)}", file=sys.stderr)
        return 1
    per = {tuple(k): n / args.n / 1000 for k, n in zip(order, counts, strict=True)}
    variants = args.variants.split(",")
    what = "durable publish" if args.durable else "request"
    print(f"thousands of instructions per {what} ({args.n} of them, after {args.warmup})")
    print(f"{'case':<12}" + "".join(f"{v:>10}" for v in variants))
    for case in args.cases.split(","):
        print(f"{case:<12}" + "".join(f"{per[(case, v)]:>10.1f}" for v in variants))
    return 0


if __name__ == "__main__":
    sys.exit(main())
