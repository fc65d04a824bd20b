"""Child processes of the bench run: ports, servers, Pushpin, /proc readings.

Everything started here is remembered and stopped by its PID (SIGTERM, then
wait). Nothing is ever stopped by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.common import progress

REPO = Path(__file__).resolve().parent.parent
_STARTED: list[Child] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit(want: int = 20000) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def http_status(url: str, data: bytes | None = None, timeout: float = 2.0) -> int:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def wait_until(predicate, timeout: float, what: str, alive=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"{what}: process exited while starting")
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s")


def child_env(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(extra)
    return env


class Child:
    """One process we started; stop() ends it by PID."""

    def __init__(self, name: str, argv: list[str], logfile: Path, env: dict):
        self.name = name
        self.log = open(logfile, "ab")
        self.proc = subprocess.Popen(
            argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO), stdin=subprocess.DEVNULL
        )
        self.pid = self.proc.pid
        _STARTED.append(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)  # only our own Python servers
                self.proc.wait(5)
        self.log.close()
        if self in _STARTED:
            _STARTED.remove(self)


class Worker(Child):
    """A Python child the bench talks to over pipes, one JSON line each way
    (bench/inproc_worker.py); its stderr goes to its log."""

    def __init__(self, name: str, argv: list[str], logfile: Path, env: dict, cwd: Path, timeout: float = 60):
        self.name = name
        self.log = open(logfile, "ab")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=str(cwd),
            text=True,
            bufsize=1,
        )
        self.pid = self.proc.pid
        _STARTED.append(self)
        self.hello = self._read(timeout)

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"{self.name}: no answer (see {self.log.name})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.name}: {answer['error']}")
        return answer

    def ask(self, question: dict, timeout: float = 120) -> dict:
        self.proc.stdin.write(json.dumps(question) + "\n")
        return self._read(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            try:
                self.proc.stdin.close()  # end of questions: the worker exits
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        super().stop(timeout)


#: gunicorn's worker classes the bench runs: sync closes every connection after
#: one request; gthread keeps Pushpin's connections alive between requests.
GUNICORN_WORKER_CLASSES = {
    "gunicorn": ["--worker-class", "sync"],
    "gthread": ["--worker-class", "gthread", "--threads", "4", "--keep-alive", "75"],
}


class Server(Child):
    """A bench Django server on loopback: gunicorn with one sync or gthread
    worker, uvicorn (one process, ASGI), or daphne."""

    def __init__(
        self, name: str, kind: str, settings: str, logdir: Path, env_extra: dict, port: int | None = None
    ):
        self.port = port or free_port()  # a given port: a restart in place (bench/race.py)
        self.kind = kind
        if kind in GUNICORN_WORKER_CLASSES:
            # one worker, so its RSS and CPU are the server's; a large listen
            # backlog so the proxy, not the server, limits bursts
            argv = [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                *GUNICORN_WORKER_CLASSES[kind],
                "--backlog",
                "4096",
                "--timeout",
                "120",
                "--log-level",
                "warning",
                "bench.apps.wsgi:application",
            ]
        elif kind == "uvicorn":
            argv = [
                sys.executable,
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--backlog",
                "4096",
                "--log-level",
                "warning",
                "--no-access-log",
                "bench.apps.asgi:application",
            ]
        elif kind == "daphne":
            argv = [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--verbosity",
                "0",
                "bench.apps.asgi_channels:application",
            ]
        else:
            raise ValueError(kind)
        env = child_env(DJANGO_SETTINGS_MODULE=settings, **env_extra)
        super().__init__(name, argv, logdir / f"{name}.log", env)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: http_status(self.url + "/health/") == 200, 30, name, self.alive)

    @property
    def backend(self) -> str:
        return f"127.0.0.1:{self.port}"

    def request_pid(self) -> int:
        """The process that runs Django: gunicorn's worker, or uvicorn or daphne itself."""
        if self.kind in ("daphne", "uvicorn"):
            return self.pid
        kids = children(self.pid)
        if len(kids) != 1:
            raise RuntimeError(f"{self.name}: expected one gunicorn worker, got {kids}")
        return kids[0]


def stop_all() -> None:
    for child in reversed(list(_STARTED)):
        try:
            child.stop()
        except Exception as exc:  # keep stopping the others
            print(f"could not stop {child.name} (pid {child.pid}): {exc}", file=sys.stderr)


# ---- /proc readings -------------------------------------------------------


def children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_rss_bytes(pid: int) -> int:
    total = 0
    for p in descendants(pid):
        try:
            total += rss_bytes(p)
        except OSError:
            pass
    return total


def cpu_ns(pid: int) -> int:
    """CPU time used so far by every thread of pid, in nanoseconds."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


# ---- Pushpin --------------------------------------------------------------


def start_pushpin(routes: list[str], sig_key: str, message_rate: int, workdir: Path, name: str, **options):
    """A private Pushpin (grip_views.pushpin) with the given routes lines and
    other options of grip_views.pushpin.Pushpin.

    Its log and config stay in workdir/name for the report's readers."""
    from grip_views.pushpin import Pushpin

    where = workdir / name
    where.mkdir(parents=True, exist_ok=True)
    pushpin = Pushpin(
        routes[-1].split()[1].split(",")[0],
        routes=routes,
        sig_key=sig_key,
        message_rate=message_rate,
        workdir=str(where),
        keep_workdir=True,
        **options,
    )
    pushpin.start(timeout=30)
    return pushpin


def pushpin_rss_bytes(pushpin) -> int:
    """RSS of the runner and its four services together."""
    pids = {pushpin.pid, *pushpin.child_pids.values()}
    total = 0
    for pid in pids:
        try:
            total += rss_bytes(pid)
        except OSError:
            pass
    return total


def warm_pushpin(pushpin, path: str, opened: bytes, timeout: float = 15.0) -> int:
    """Repeat one stream hold through Pushpin until it is accepted.

    Right after Pushpin 1.36 answers its readiness probes, the first hold can
    still get `500 Accept service unavailable.` (its handler is not connected
    yet); returns how many attempts that took."""
    import http.client

    port = int(pushpin.url.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            if resp.status == 200 and opened in resp.read1(4096):
                return attempts
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"Pushpin at {pushpin.url} accepted no hold in {timeout} s")
        time.sleep(0.1)


@contextlib.contextmanager
def store_servers(ctx, res, what: str):
    """PostgreSQL and Redis for a benchmark of stores, from tests/servers.py,
    stopped by PID on exit; yields ``{store: worker environment}`` with sqlite
    first (its entry is the caller's). The smoke run skips PostgreSQL, which
    takes seconds to start; a server that cannot start is noted in ``res``."""
    from tests.servers import PostgresServer, RedisServer, ServerUnavailable

    stores: dict[str, dict[str, str]] = {"sqlite": {}}
    servers = []
    try:
        for name, cls in ((("postgres", PostgresServer),) if not ctx.smoke else ()) + (
            ("redis", RedisServer),
        ):
            try:
                progress(f"starting {name} for the {what}")
                server = cls().start()
            except ServerUnavailable as exc:
                res.notes.append(f"{name} not measured: {exc}")
                continue
            servers.append(server)
            ctx.started.append({"name": f"{what}: {name}", "pids": [server.proc.pid]})
            if name == "postgres":
                stores[name] = {"BENCH_PG_PORT": str(server.port), "BENCH_PG_USER": server.role}
            else:
                stores[name] = {"BENCH_REDIS_URL": server.url}
        yield stores
    finally:
        for server in servers:
            server.stop()
