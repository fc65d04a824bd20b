"""The bench command: ``python -m bench [--smoke] [--only NAMES] [--out DIR] [--base COMMIT]``.

Starts its own Pushpin instances and Django servers (gunicorn, daphne) on free
loopback ports, runs every benchmark, stops everything it started by PID, and
writes RESULTS.md, results.json and plots/*.png into the output directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import procs
from bench.common import Result, machine_info, progress
from bench.requests_inproc import BASE_COMMIT

BENCHMARKS = [
    *("codec", "inproc", "caches", "proxy", "publish", "zmq", "latency", "hold", "pmem", "servers"),
    "presence",
    "htmx",
    "resume",
    "race",
    "durable",
]
NEEDS_SERVERS = {"proxy", "publish", "zmq", "latency", "hold", "pmem", "servers", "htmx", "race", "durable"}
BUDGET_S = 15 * 60


class Context:
    """What the benchmarks share: sizes, output, and the processes started."""

    def __init__(self, smoke: bool, out: Path, key: str, base: str | None = None):
        from bench.plots import Plots

        self.smoke = smoke
        self.base = base  # the grip_views commit of the before/after rows, or None
        self.out = out
        self.key = key
        self.logdir = out / ".work"  # logs and Pushpin work dirs: not for committing
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.caption = ""
        self.plots: Plots | None = None
        self.servers: dict[str, procs.Server] = {}
        self.pushpins: dict = {}
        self.started: list[dict] = []  # every process started, for the report and the test
        self.workers: list[procs.Worker] = []

    def server(self, name: str, settings: str, kind: str = "gunicorn") -> procs.Server:
        if name not in self.servers:
            progress(f"starting {kind} server {name} ({settings})")
            server = procs.Server(name, kind, settings, self.logdir, {"BENCH_GRIP_KEY": self.key})
            self.servers[name] = server
            self.started.append({"name": name, "pids": [server.pid, *procs.children(server.pid)]})
        return self.servers[name]

    def pushpin(self, name: str, routes: list[str], message_rate: int = 100000, **options):
        if name not in self.pushpins:
            progress(f"starting Pushpin {name} (message_rate={message_rate}) {options or ''}")
            pushpin = procs.start_pushpin(
                routes, self.key, message_rate, self.logdir, f"pushpin-{name}", **options
            )
            self.pushpins[name] = pushpin
            self.started.append(
                {"name": f"pushpin-{name}", "pids": [pushpin.pid, *pushpin.child_pids.values()]}
            )
            procs.warm_pushpin(pushpin, "/gv/stream/bench-warm-up/", b"[stream open]")
        return self.pushpins[name]

    def inproc_worker(self, name: str, tree: Path, api: str, variants: list) -> procs.Worker:
        """An in-process benchmark's worker importing grip_views from ``tree``."""
        progress(f"starting {name}: grip_views from {tree} (API {api})")
        spec = [
            {"key": v.key, "prefix": v.prefix, "middleware": list(v.middleware), "runner": v.runner}
            for v in variants
        ]
        env = procs.child_env(BENCH_GRIP_KEY=self.key, BENCH_BASE_API=api)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        worker = procs.Worker(
            name,
            [sys.executable, "-m", "bench.inproc_worker", json.dumps(spec)],
            self.logdir / f"{name}.log",
            env,
            cwd=tree,  # first on sys.path: this tree's grip_views, not the repository's
        )
        self.workers.append(worker)
        self.started.append({"name": name, "pids": [worker.pid]})
        return worker

    def stop(self, name: str) -> None:
        if name in self.pushpins:
            progress(f"stopping Pushpin {name} (pid {self.pushpins[name].pid})")
            self.pushpins.pop(name).stop()
        if name in self.servers:
            server = self.servers.pop(name)
            progress(f"stopping server {name} (pid {server.pid})")
            server.stop()

    def stop_all(self) -> None:
        for worker in self.workers:
            progress(f"stopping {worker.name} (pid {worker.pid})")
            worker.stop()
        for name in list(self.pushpins) + list(self.servers):
            try:
                self.stop(name)
            except Exception as exc:
                print(f"could not stop {name}: {exc}", file=sys.stderr)
        procs.stop_all()

    # the shared setup: one server per variant behind one Pushpin
    def main_pushpin(self):
        gv = self.server("gv", "bench.apps.settings_gv")
        dg = self.server("dg", "bench.apps.settings_dg")
        plain = self.server("plain", "bench.apps.settings_plain")
        return self.pushpin(
            "main",
            [
                f"*,path_beg=/dg/ {dg.backend},over_http",
                f"*,path_beg=/plain/ {plain.backend},over_http",
                f"*,path_beg=/jwt/ {plain.backend},over_http",
                f"* {gv.backend},over_http",
            ],
        )


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, under a minute: checks that everything runs"
    )
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {','.join(BENCHMARKS)}"
    )
    parser.add_argument(
        "--out", help="output directory (default: bench/ for a full run, a temporary directory for --smoke)"
    )
    parser.add_argument(
        "--base",
        default=BASE_COMMIT,
        help=f"grip_views commit of the in-process before/after rows (default {BASE_COMMIT}, "
        "the last 0.1 commit), or 'none'",
    )
    args = parser.parse_args(argv)
    if args.base.lower() == "none":
        args.base = None
    args.only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    command = "python -m bench" + "".join(
        f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv)
    )
    if args.out:
        out = Path(args.out).resolve()
    elif args.smoke:
        out = Path(tempfile.mkdtemp(prefix="grip-views-bench-smoke-"))
    else:
        out = Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def on_term(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    fds = procs.raise_fd_limit(20000)
    progress(
        f"bench {'smoke' if args.smoke else 'full'} run: {', '.join(args.only)}; "
        f"output in {out}; open-file limit {fds}"
    )

    key = "bench-" + os.urandom(16).hex()  # 32+ bytes: no PyJWT key-length warning
    os.environ["BENCH_GRIP_KEY"] = key
    ctx = Context(args.smoke, out, key, args.base)
    results: list[Result] = []
    info = machine_info(str(procs.REPO))
    try:
        if NEEDS_SERVERS & set(args.only):
            os.environ["BENCH_PUBLISH_URL"] = ctx.main_pushpin().publish_url
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.apps.settings_inproc"
        import django

        django.setup()
        from bench.plots import Plots

        ctx.caption = (
            f"{info['cpu']}, {info['cores']} cores; Python {info['python']}; "
            f"{info['pushpin']}; grip_views {info['git']}; {command}"
        )
        ctx.plots = Plots(out, ctx.caption)
        for name in args.only:
            progress(f"== {name} ==")
            module = __import__(f"bench.{_MODULES[name]}", fromlist=["run"])
            res = Result(name, module.TITLE)
            results.append(res)
            try:
                module.run(ctx, res)
            except Exception:
                progress(f"{name} FAILED:\n{traceback.format_exc()}")
                res.error = traceback.format_exc()
    finally:
        progress("stopping everything started")
        ctx.stop_all()
    elapsed = time.monotonic() - started
    from bench import report

    path = report.write(out, results, info, command, elapsed, args.smoke, ctx.started)
    ok = all(not r.error and all(c.ok for c in r.checks) for r in results)
    progress(f"report: {path}")
    for r in results:
        for t in r.targets:
            progress(
                f"  {'met   ' if t.met else 'MISSED'} {t.name}: {t.value:.2f} (goal {t.kind} {t.limit:g})"
            )
    if elapsed > BUDGET_S:
        progress(f"WARNING: the run took {elapsed / 60:.1f} min, over the 15 min budget")
    progress("all checks passed" if ok else "SOME CHECKS FAILED (see the report)")
    return 0 if ok else 1


_MODULES = {
    "codec": "codec",
    "inproc": "requests_inproc",
    "caches": "caches",
    "proxy": "requests_proxy",
    "publish": "publishing",
    "zmq": "zmq_publishing",
    "latency": "latency",
    "hold": "holding",
    "pmem": "pushpin_memory",
    "servers": "servers",
    "presence": "presence",
    "htmx": "htmx",
    "resume": "resume",
    "race": "race",
    "durable": "durable",
}
