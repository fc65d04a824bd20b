"""PostgreSQL and Redis servers for the tests: private, on loopback, stopped by PID.

Each is started on demand (by a session fixture of tests/conftest.py) in its
own temporary directory on a free port, from Debian's packages (``postgresql``,
``redis-server``), and stopped with SIGTERM to the PID it was started with.
PostgreSQL refuses to run as root: as root it runs as the ``postgres`` user
the package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The server's package is not installed (``apt-get install postgresql redis-server``)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"server exited with {proc.returncode}: {tail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"server not listening on {port} after {timeout} s: {tail}")


def _stop(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


def find_pg_bin() -> Path:
    for pattern in ("/usr/lib/postgresql/*/bin",):
        for found in sorted(glob.glob(pattern), reverse=True):
            if (Path(found) / "initdb").exists():
                return Path(found)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServerUnavailable("PostgreSQL is not installed: apt-get install -y postgresql")


class PostgresServer:
    """``initdb`` in a temporary directory, then ``postgres`` on a loopback port."""

    def __init__(self) -> None:
        self.bin = find_pg_bin()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gv-pg-"))
        self.proc: subprocess.Popen | None = None
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.role = self.user or pwd.getpwuid(os.geteuid()).pw_name

    @property
    def dsn(self) -> dict[str, str]:
        return {"HOST": "127.0.0.1", "PORT": str(self.port), "USER": self.role, "NAME": "postgres"}

    def start(self) -> PostgresServer:
        data, log = self.dir / "data", self.dir / "log.txt"
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", self.role, "--no-sync"],
            check=True,
            capture_output=True,
            user=self.user,
            cwd=self.dir,
        )
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.dir}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=50",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                user=self.user,
                cwd=self.dir,
            )
        _wait_port(self.port, self.proc, 30, log)
        return self

    def stop(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """``redis-server`` on a loopback port, no persistence, in a temporary directory."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise ServerUnavailable("Redis is not installed: apt-get install -y redis-server")
        self.exe = exe
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gv-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = self.dir / "log.txt"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    self.exe,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )
        _wait_port(self.port, self.proc, 20, log)
        return self

    def stop(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
