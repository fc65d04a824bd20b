"""Run a private Pushpin on loopback: for end-to-end tests, demos and benchmarks.

``Pushpin`` writes its own config, routes, run and log directories in a
temporary directory, starts ``pushpin`` as a child process on free loopback
ports, waits until the whole chain really answers, and stops it by the PIDs it
started. Several instances run side by side (one per pytest-xdist worker).

Verified with the Debian bookworm package of Pushpin 1.36 (which runs
``condure``, ``zurl``, ``pushpin-proxy`` and ``pushpin-handler``). Nothing here
imports Django::

    with Pushpin(backend="127.0.0.1:8000") as pushpin:
        print(pushpin.url, pushpin.grip_url)

or from a shell: ``python -m grip_views.pushpin --backend 127.0.0.1:8000``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import binascii
import hashlib
import http.client
import json
import logging
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = [
    "CLIENT_BUFFER_SIZE",
    "CLIENT_MAXCONN",
    "INSTALL_COMMAND",
    "Pushpin",
    "PushpinError",
    "PushpinNotInstalled",
    "find_pushpin",
    "install_pushpin",
]

logger = logging.getLogger(__name__)

INSTALL_COMMAND = "apt-get update && apt-get install -y pushpin"

# The services the runner starts; each writes RUNDIR/<name>.pid.
SERVICES = ("condure", "zurl", "pushpin-proxy", "pushpin-handler")

# Readiness is proved without the backend (it may not be up yet, and should not
# get requests it never asked for), through two routes put before the user's:
# requests with READY_HOST go through zurl to the instance's own publish port;
# requests with TEST_HOST go to Pushpin's built-in test handler, whose /stream
# and /ws hold connections on channel "test" through pushpin-handler.
READY_HOST = "pushpin-ready.grip-views.invalid"
TEST_HOST = "pushpin-test.grip-views.invalid"

#: Pushpin ships 8192: two such buffers per client connection in condure. A
#: request whose header block does not fit is reset with no answer (no 431, the
#: app never sees it), so this bounds the request headers a client may send.
CLIENT_BUFFER_SIZE = 4096
#: Pushpin ships 50000; condure reserves memory for that many connections
#: whether they come or not (about 21 MiB more at start than 10000).
CLIENT_MAXCONN = 10000

_LOG_TAIL_LINES = 40
_START_ATTEMPTS = 5
# ZeroMQ ipc:// endpoints are Unix sockets, whose paths may not exceed 107 bytes;
# the longest name Pushpin puts in the rundir is ~30 bytes.
_MAX_RUNDIR_LENGTH = 70
# Keys that can be written into pushpin.conf as they are; anything else (commas
# make a list, ';' starts a comment...) is written base64-encoded.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9._~+/\-]+")
_PORT_IN_USE = re.compile(r"failed to bind [^\s]*?:(\d+): Address already in use")

_CONFIG = """\
# Written by grip_views.pushpin for one private, throwaway instance.
[global]
include={{libdir}}/internal.conf
rundir={rundir}

[runner]
# Debian's package expects a system-wide zurl: this instance runs its own.
services={services}
http_port=127.0.0.1:{http_port}
logdir={logdir}
# Memory (measured in bench/pushpin_memory.py): condure keeps two buffers of
# client_buffer_size per connection, and reserves room for client_maxconn.
client_buffer_size={client_buffer_size}
client_maxconn={client_maxconn}

[proxy]
routesfile={routesfile}
sig_iss={sig_iss}
sig_key={sig_key}
debug=true
zurl_out_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in
zurl_out_stream_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in-stream
zurl_in_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-out

[handler]
push_in_http_addr=127.0.0.1
push_in_http_port={publish_port}
stats_spec=ipc://{{rundir}}/{{ipc_prefix}}stats
stats_format=json
message_rate={message_rate}
message_hwm={message_hwm}
{zmq_lines}"""


class PushpinNotInstalled(RuntimeError):
    """The ``pushpin`` executable was not found (or could not be installed)."""

    def __init__(self, detail: str = "") -> None:
        message = f"Pushpin is not installed: {INSTALL_COMMAND}"
        if detail:
            message = f"{message}\n{detail}"
        super().__init__(message)


class PushpinError(RuntimeError):
    """Pushpin died, or did not become ready; the message ends with its log tail."""

    def __init__(self, message: str, log_tail: str = "", log_path: str | None = None) -> None:
        self.log_tail = log_tail
        self.log_path = log_path
        if log_tail:
            where = f" ({log_path})" if log_path else ""
            message = f"{message}\n--- end of Pushpin's log{where} ---\n{log_tail}"
        super().__init__(message)


class _PortInUseError(Exception):
    """Internal: a port picked for this instance turned out to be taken."""

    def __init__(self, port: int | None, how: str) -> None:
        super().__init__(how)
        self.port = port
        self.how = how


def find_pushpin() -> str | None:
    """Return the path of the ``pushpin`` executable on ``PATH``, or None."""
    return shutil.which("pushpin")


def install_pushpin() -> str:
    """Install Pushpin with apt-get and return its path; meant for CI machines.

    Runs ``apt-get update && apt-get install -y pushpin`` non-interactively.
    Only possible as root on a system with apt-get; otherwise, or when the
    installation fails, raises ``PushpinNotInstalled``.
    """
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None or geteuid() != 0:
        raise PushpinNotInstalled("Installing it needs root; run the command above as root.")
    if shutil.which("apt-get") is None:
        raise PushpinNotInstalled("apt-get was not found; install Pushpin with your package manager.")
    logger.info("installing Pushpin: %s", INSTALL_COMMAND)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(  # noqa: S603 - a fixed command, no outside input
        ["sh", "-c", INSTALL_COMMAND],  # noqa: S607 - sh and apt-get come from PATH
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    path = find_pushpin()
    if done.returncode != 0 or path is None:
        tail = "\n".join(done.stdout.splitlines()[-_LOG_TAIL_LINES:])
        raise PushpinNotInstalled(f"The installation failed (exit status {done.returncode}):\n{tail}")
    return path


class Pushpin:
    """One private Pushpin instance on 127.0.0.1, started and stopped by this object.

    ``backend`` is the ``host:port`` of the origin (the Django server). The
    default route, ``* <backend>,over_http``, sends every path to it, plain HTTP
    and WebSocket alike (WebSockets arrive as WebSocket-over-HTTP POSTs). Pass
    ``routes`` (lines of a Pushpin routes file) to route differently.

    Ports left as None are picked at ``start()`` and kept by ``restart()``.

    Publishing over ZeroMQ (off by default): ``push_in_spec=True`` binds
    Pushpin's PULL socket on a free loopback TCP port (or give the spec),
    read back as :attr:`push_in_uri`; ``push_in_sub_specs=True`` binds its SUB
    socket likewise (:attr:`push_in_sub_uris`). With ``push_in_sub_connect=True``
    the SUB socket connects instead, to the publisher's spec(s) given in
    ``push_in_sub_specs``: many instances then subscribe to one PUB socket.
    ``workdir`` holds the config, ``run/`` and ``pushpin.log``; without it a
    temporary directory is used and removed by ``stop()`` unless
    ``keep_workdir`` is true.

    ``client_buffer_size`` and ``client_maxconn`` are Pushpin's settings of the
    same names, tuned for memory (:data:`CLIENT_BUFFER_SIZE`,
    :data:`CLIENT_MAXCONN`): raise the buffer if clients send request headers
    (cookies, mostly) of more than 4 KiB, which Pushpin resets unanswered.
    """

    def __init__(
        self,
        backend: str = "127.0.0.1:8000",
        *,
        routes: list[str] | None = None,
        sig_key: str | bytes = "changeme",
        sig_iss: str = "pushpin",
        message_rate: int = 100000,
        message_hwm: int = 100000,
        client_buffer_size: int = CLIENT_BUFFER_SIZE,
        client_maxconn: int = CLIENT_MAXCONN,
        http_port: int | None = None,
        publish_port: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
        loglevel: int | None = None,
        executable: str | None = None,
        keep_workdir: bool = False,
        push_in_spec: str | bool = False,
        push_in_sub_specs: str | Sequence[str] | bool = False,
        push_in_sub_connect: bool = False,
    ) -> None:
        self.backend = _backend_target(backend)
        self.routes = list(routes) if routes is not None else [f"* {self.backend},over_http"]
        for line in [*self.routes, sig_iss]:
            _check_one_line(line)
        if not sig_iss:
            raise ValueError("sig_iss must not be empty")
        self.sig_key = sig_key
        self.sig_iss = sig_iss
        self._key_bytes, self._config_key = _split_key(sig_key)
        self.message_rate = int(message_rate)
        self.message_hwm = int(message_hwm)
        self.client_buffer_size = int(client_buffer_size)
        self.client_maxconn = int(client_maxconn)
        if self.client_buffer_size < 1024 or self.client_maxconn < 1:
            raise ValueError("client_buffer_size must be at least 1024 and client_maxconn at least 1")
        self.loglevel = loglevel
        self.executable = executable
        self.keep_workdir = keep_workdir
        self.http_port: int | None = http_port
        self.publish_port: int | None = publish_port
        self._fixed_ports = (http_port, publish_port)
        self._push_in_arg, self._sub_arg = _check_zmq_options(
            push_in_spec, push_in_sub_specs, push_in_sub_connect
        )
        self.push_in_sub_connect = push_in_sub_connect
        # Given specs are kept as they are; True ones get a free port at start().
        self._push_in_spec = self._push_in_arg if isinstance(self._push_in_arg, str) else None
        self._push_in_sub_specs = list(self._sub_arg) if isinstance(self._sub_arg, list) else []
        self._given_workdir = Path(workdir) if workdir is not None else None
        self._workdir: Path | None = None
        self._rundir: Path | None = None
        self._own_dirs: list[Path] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._children: dict[str, int] = {}
        self._log_offset = 0
        self._last_log = ""
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- URLs
    @property
    def url(self) -> str:
        """Base URL clients use to reach the backend through Pushpin."""
        return f"http://127.0.0.1:{self._port('http_port')}"

    @property
    def ws_url(self) -> str:
        """Base ``ws://`` URL for WebSocket clients."""
        return f"ws://127.0.0.1:{self._port('http_port')}"

    @property
    def publish_url(self) -> str:
        """Control URI: publishes are POSTed to ``publish_url + "/publish/"``."""
        return f"http://127.0.0.1:{self._port('publish_port')}"

    @property
    def grip_proxy(self) -> dict[str, Any]:
        """This instance as one entry of the ``GRIP_PROXIES`` setting."""
        key: str | bytes = self._key_bytes
        if isinstance(self.sig_key, str) and not self.sig_key.startswith("base64:"):
            key = self.sig_key
        return {
            "control_uri": self.publish_url,
            "key": key,
            "control_iss": self.sig_iss,
            "verify_iss": self.sig_iss,
        }

    @property
    def push_in_uri(self) -> str | None:
        """Where a PUSH socket connects to publish to this instance (its
        ``push_in_spec``), or None when it has no PULL socket."""
        if self._push_in_arg is True and self._push_in_spec is None:
            self._port("http_port")  # raises the "start it first" error
        return self._push_in_spec

    @property
    def push_in_sub_uris(self) -> list[str]:
        """This instance's ``push_in_sub_specs``: where a PUB socket connects to
        it (bound SUB), or the publishers it connects to (``push_in_sub_connect``)."""
        if self._sub_arg is True and not self._push_in_sub_specs:
            self._port("http_port")
        return list(self._push_in_sub_specs)

    @property
    def grip_url(self) -> str:
        """This instance as a ``GRIP_URL`` (``base64:`` keys stay encoded)."""
        iss = quote(self.sig_iss, safe="")
        key = quote(self._config_key, safe=":")
        return f"{self.publish_url}/?iss={iss}&key={key}"

    # ---------------------------------------------------------- inspection
    @property
    def pid(self) -> int | None:
        """PID of the ``pushpin`` runner process, while started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def child_pids(self) -> dict[str, int]:
        """PIDs of the runner's services, as read from the rundir once ready."""
        return dict(self._children)

    @property
    def workdir(self) -> Path | None:
        """Directory holding the config and log (None before the first start)."""
        return self._workdir

    @property
    def rundir(self) -> Path | None:
        """Pushpin's rundir: its ipc sockets and ``<service>.pid`` files."""
        return self._rundir

    @property
    def log_path(self) -> Path | None:
        """The file the runner's merged output goes to."""
        return self._workdir / "pushpin.log" if self._workdir is not None else None

    @property
    def running(self) -> bool:
        """True while the runner and its services are alive."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        return all(_pid_alive(pid) for pid in self._children.values())

    def log_text(self) -> str:
        """Everything Pushpin logged (kept after ``stop()`` removed the workdir)."""
        path = self.log_path
        if path is not None and path.exists():
            return path.read_text(errors="replace")
        return self._last_log

    def assert_alive(self) -> None:
        """Raise ``PushpinError`` with the log tail unless Pushpin is still running.

        The runner exits when one of its services crashes, so a fixture calls
        this before handing the instance to a test.
        """
        proc = self._proc
        if proc is None:
            raise PushpinError("Pushpin is not running (not started, or stopped).", self._tail())
        code = proc.poll()
        if code is not None:
            raise PushpinError(
                f"Pushpin (pid {proc.pid}) exited with status {code}.",
                self._tail(),
                self._log_name(),
            )
        dead = [name for name, pid in self._children.items() if not _pid_alive(pid)]
        if dead:
            raise PushpinError(
                f"Pushpin's {', '.join(dead)} exited (runner pid {proc.pid}).",
                self._tail(),
                self._log_name(),
            )

    # ----------------------------------------------------------- lifecycle
    def start(self, timeout: float = 20.0) -> Pushpin:
        """Start Pushpin and return once it really answers; a no-op if running.

        Ready means: the publish endpoint answers, a GET crosses condure, proxy
        and zurl, and a held stream and WebSocket receive a publish (see
        ``_wait_ready``); none of it needs the backend. Raises ``PushpinError``
        (with the log tail) if Pushpin exits or is not ready within ``timeout``
        seconds, ``PushpinNotInstalled`` without Pushpin.
        """
        with self._lock:
            if self._proc is not None:
                if self._proc.poll() is None:
                    return self
                self._shutdown(timeout=5.0)
            return self._start(timeout, keep_ports=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Pushpin and every service it started; safe to call twice.

        SIGTERM goes to the runner we started; services still alive afterwards
        (the runner died first) are ended by the PIDs in their rundir pid files.
        The temporary workdir is then removed unless ``keep_workdir`` is set.
        """
        with self._lock:
            self._shutdown(timeout)
            self._remove_dirs()
            if not self._own_dirs:
                _INSTANCES.discard(self)

    def restart(self, timeout: float = 20.0, stop_timeout: float = 10.0) -> Pushpin:
        """Stop, then start again on the same ports (clients reconnect to the same URLs)."""
        with self._lock:
            self._shutdown(stop_timeout)
            return self._start(timeout, keep_ports=self.http_port is not None)

    def __enter__(self) -> Pushpin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<Pushpin {self.http_port}/{self.publish_port} -> {self.backend} ({state})>"

    # ------------------------------------------------------------ internals
    def _start(self, timeout: float, keep_ports: bool) -> Pushpin:
        executable = self.executable or find_pushpin()
        if executable is None:
            raise PushpinNotInstalled()
        deadline = time.monotonic() + timeout
        given = {port for port in self._fixed_ports if port is not None}
        fixed_http, fixed_publish = self._fixed_ports
        if keep_ports:
            fixed_http, fixed_publish = self.http_port, self.publish_port
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.http_port, self.publish_port = _pick_ports(fixed_http, fixed_publish)
            self._pick_zmq_specs(keep=keep_ports)
            self._prepare_dirs()
            self._spawn(executable)
            try:
                self._wait_ready(deadline)
            except _PortInUseError as exc:
                self._shutdown(timeout=5.0)
                # A port the caller chose will not free itself; one we picked is
                # picked again, and one kept by restart() may still be closing.
                if exc.port in given or attempt == _START_ATTEMPTS:
                    raise PushpinError(
                        f"Pushpin could not start: {exc.how}.",
                        self._tail(),
                        self._log_name(),
                    ) from None
                logger.info("Pushpin attempt %d: %s; retrying", attempt, exc.how)
                if exc.port in (fixed_http, fixed_publish):
                    time.sleep(0.25)
                continue
            except BaseException:
                self._shutdown(timeout=5.0)
                raise
            logger.info(
                "Pushpin pid %s ready: %s (publish %s) -> %s, workdir %s",
                self.pid,
                self.url,
                self.publish_url,
                self.backend,
                self._workdir,
            )
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _prepare_dirs(self) -> None:
        _INSTANCES.add(self)
        _register_atexit()
        if self._workdir is None:
            if self._given_workdir is not None:
                self._workdir = self._given_workdir.resolve()
                self._workdir.mkdir(parents=True, exist_ok=True)
            else:
                self._workdir = Path(tempfile.mkdtemp(prefix="pushpin-"))
                self._own_dirs.append(self._workdir)
            rundir = self._workdir / "run"
            if len(str(rundir)) > _MAX_RUNDIR_LENGTH:
                # Too long for ipc:// paths: a short one, the same for the same
                # workdir so that a later run finds the pid files of this one.
                digest = hashlib.sha256(str(self._workdir).encode()).hexdigest()[:16]
                base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())  # noqa: S108
                rundir = base / f"pushpin-run-{digest}"
                self._own_dirs.append(rundir)
            self._rundir = rundir
        assert self._rundir is not None
        self._rundir.mkdir(parents=True, exist_ok=True)
        self._clear_pidfiles()
        logdir = self._workdir / "log"
        logdir.mkdir(exist_ok=True)
        routesfile = self._workdir / "routes"
        # The readiness route goes first, so no user route can shadow it.
        lines = [f"{READY_HOST} 127.0.0.1:{self.publish_port}", f"{TEST_HOST} test", *self.routes]
        routesfile.write_text("".join(f"{line}\n" for line in lines))
        config = _CONFIG.format(
            rundir=self._rundir,
            services=",".join(SERVICES),
            http_port=self.http_port,
            logdir=logdir,
            routesfile=routesfile,
            sig_iss=self.sig_iss,
            sig_key=self._config_key,
            publish_port=self.publish_port,
            message_rate=self.message_rate,
            message_hwm=self.message_hwm,
            client_buffer_size=self.client_buffer_size,
            client_maxconn=self.client_maxconn,
            zmq_lines=self._zmq_config(),
        )
        (self._workdir / "pushpin.conf").write_text(config)

    def _pick_zmq_specs(self, keep: bool) -> None:
        """A free loopback port for each ZeroMQ socket asked with True (kept by ``restart()``)."""
        if self._push_in_arg is True and not (keep and self._push_in_spec):
            self._push_in_spec = f"tcp://127.0.0.1:{_free_port()}"
        if self._sub_arg is True and not (keep and self._push_in_sub_specs):
            self._push_in_sub_specs = [f"tcp://127.0.0.1:{_free_port()}"]

    def _zmq_config(self) -> str:
        """The ``[handler]`` lines that turn ZeroMQ publishing on, if asked."""
        lines = []
        if self._push_in_spec:
            lines.append(f"push_in_spec={self._push_in_spec}")
        if self._push_in_sub_specs:
            lines.append(f"push_in_sub_specs={','.join(self._push_in_sub_specs)}")
            lines.append(f"push_in_sub_connect={'true' if self.push_in_sub_connect else 'false'}")
        return "".join(f"{line}\n" for line in lines)

    def _spawn(self, executable: str) -> None:
        assert self._workdir is not None
        command = [
            executable,
            "--config",
            str(self._workdir / "pushpin.conf"),
            "--merge-output",
        ]
        if self.loglevel is not None:
            command.append(f"--loglevel={int(self.loglevel)}")
        log_path = self._workdir / "pushpin.log"
        with open(log_path, "ab") as log:
            self._log_offset = log.tell()
            try:
                # Its own session: only this object signals it, never a terminal's Ctrl-C.
                self._proc = subprocess.Popen(  # noqa: S603 - our executable, our arguments
                    command,
                    cwd=self._workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise PushpinError(f"Could not run {executable}: {exc}") from exc
        self._children = {}
        logger.debug("spawned %s as pid %s", " ".join(command), self._proc.pid)

    def _wait_ready(self, deadline: float) -> None:
        """Poll until every path a test uses answers.

        In order: the publish endpoint; a GET through condure, proxy and zurl;
        then a stream and a WebSocket held by pushpin-handler that receive a
        publish. Each service logs "started" before its ZeroMQ links are
        connected: a hold made just after the first two pass was seen to fail
        with "Accept service unavailable".

        Raises ``_PortInUseError`` when a port turns out to be taken, whether
        condure says so and exits, or pushpin-handler keeps quiet about it (it
        logs "started" and a neighbour on that port gets our publishes).
        """
        assert self._proc is not None and self.http_port and self.publish_port
        passed = 0
        probes: list[tuple[str, Callable[[int, int, float], bool]]] = [
            ("the publish endpoint did not answer", _publish_answers),
            ("a GET through the proxy and zurl got no answer", _proxy_answers),
            ("a held stream and WebSocket did not receive a publish", _holds_receive),
        ]
        while True:
            code = self._proc.poll()
            if code is not None:
                tail = self._tail()
                match = _PORT_IN_USE.search(tail)
                if match:
                    port = int(match.group(1))
                    raise _PortInUseError(port, f"port {port} is already in use")
                raise PushpinError(
                    f"Pushpin exited with status {code} before it was ready.",
                    tail,
                    self._log_name(),
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                why = probes[passed][0] if passed < len(probes) else "its services did not start"
                if not {"condure", "pushpin-handler"} <= self._children.keys():
                    why = "its services did not start"
                raise PushpinError(
                    f"Pushpin was not ready in time: {why}.",
                    self._tail(),
                    self._log_name(),
                )
            self._children = self._read_pidfiles()
            # Probe only once both listeners are spawned and known to be ours:
            # before that, a probe could reach a neighbour on our port.
            if {"condure", "pushpin-handler"} <= self._children.keys():
                for service, port in (("condure", self.http_port), ("pushpin-handler", self.publish_port)):
                    if _listener_owner(self._children[service], port) == "other":
                        raise _PortInUseError(port, f"port {port} is used by another process")
                # Short: a request sent before the links are up can be lost, not queued.
                probe_timeout = max(0.1, min(0.5, remaining))
                while passed < len(probes) and probes[passed][1](
                    self.http_port, self.publish_port, probe_timeout
                ):
                    passed += 1
                if passed == len(probes):
                    # Ready, but only once every service's PID is known: a
                    # pidfile written after the read above would leave that
                    # service out of what stop() ends by PID.
                    self._children = self._read_pidfiles()
                    if set(SERVICES) <= self._children.keys():
                        return
            time.sleep(0.02)

    def _read_pidfiles(self) -> dict[str, int]:
        found: dict[str, int] = {}
        if self._rundir is None:
            return found
        for service in SERVICES:
            try:
                found[service] = int((self._rundir / f"{service}.pid").read_text().strip())
            except (OSError, ValueError):
                continue
        return found

    def _clear_pidfiles(self) -> None:
        """Remove pid files a previous run left in the rundir (a reused workdir,
        or a retry), ending first the services still alive among them."""
        assert self._rundir is not None
        stale = self._read_pidfiles()
        alive = [pid for pid in stale.values() if self._is_our_service(pid)]
        if alive:
            logger.info("ending Pushpin services an earlier run left in %s: %s", self._rundir, alive)
            for pid in alive:
                _signal(pid, signal.SIGTERM)
            _wait_gone(alive, 10.0)
        for service in stale:
            (self._rundir / f"{service}.pid").unlink(missing_ok=True)

    def _shutdown(self, timeout: float) -> None:
        """Stop the runner and any service left over; keeps the workdir."""
        proc = self._proc
        if proc is None:
            return
        children = {**self._children, **self._read_pidfiles()}
        if proc.poll() is None:
            logger.debug("stopping Pushpin pid %s", proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("Pushpin pid %s ignored SIGTERM for %.1f s", proc.pid, timeout)
        leftovers = {name: pid for name, pid in children.items() if self._is_our_service(pid)}
        if leftovers:
            logger.info("ending Pushpin services left behind: %s", leftovers)
            for pid in leftovers.values():
                _signal(pid, signal.SIGTERM)
            _wait_gone(leftovers.values(), timeout)
        # Last resort, by PID only: whatever survived SIGTERM.
        for pid in [pid for pid in leftovers.values() if _pid_alive(pid)]:
            logger.warning("Pushpin service pid %s survived SIGTERM; killing it", pid)
            _signal(pid, signal.SIGKILL)
        if proc.poll() is None:
            logger.warning("Pushpin pid %s survived SIGTERM; killing it", proc.pid)
            proc.kill()
            proc.wait()
        self._last_log = self.log_text()
        self._proc = None
        self._children = {}

    def _is_our_service(self, pid: int) -> bool:
        """Alive, and (where /proc tells) really one of ours, not a reused PID."""
        if not _pid_alive(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return not Path("/proc/self").exists()
        marks = [str(path).encode() for path in (self._rundir, self._workdir) if path is not None]
        return any(mark in cmdline for mark in marks)

    def _remove_dirs(self) -> None:
        if self.keep_workdir or not self._own_dirs:
            return
        self._last_log = self.log_text()
        for path in self._own_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._own_dirs = []
        self._workdir = None
        self._rundir = None

    def _tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines Pushpin logged since it was last spawned."""
        path = self.log_path
        if path is not None and path.exists():
            with open(path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        else:
            text = self._last_log
        return "\n".join(text.splitlines()[-lines:])

    def _log_name(self) -> str | None:
        path = self.log_path
        return str(path) if path is not None and path.exists() else None

    def _port(self, name: str) -> int:
        port = getattr(self, name)
        if port is None:
            raise PushpinError(f"Pushpin's {name} is picked at start(): start it first.")
        return int(port)


# ---------------------------------------------------------------- helpers
def _backend_target(backend: str) -> str:
    """``host:port`` for a routes file, from ``host:port`` or an ``http://`` URL."""
    if "://" in backend:
        parts = urlsplit(backend)
        if parts.scheme != "http" or parts.path not in ("", "/") or parts.port is None:
            raise ValueError(f"backend must be host:port or http://host:port, not {backend!r}")
        backend = f"{parts.hostname}:{parts.port}"
    _check_one_line(backend)
    if ":" not in backend or " " in backend:
        raise ValueError(f"backend must be host:port, not {backend!r}")
    return backend


def _check_zmq_options(
    push_in_spec: str | bool, sub_specs: str | Sequence[str] | bool, sub_connect: bool
) -> tuple[str | bool, list[str] | bool]:
    """The ZeroMQ options as ``Pushpin`` keeps them, or ValueError saying what is wrong."""
    if isinstance(sub_specs, bool):
        subs: list[str] | bool = sub_specs
    else:
        subs = [sub_specs] if isinstance(sub_specs, str) else list(sub_specs)
    for spec in [push_in_spec, *(subs if isinstance(subs, list) else [])]:
        if isinstance(spec, str):
            _check_one_line(spec)
            if not spec.startswith(("tcp://", "ipc://")) or "," in spec:
                raise ValueError(f"a ZeroMQ spec is one tcp:// or ipc:// address, not {spec!r}")
    if subs == []:
        subs = False
    if sub_connect and not isinstance(subs, list):
        raise ValueError(
            "push_in_sub_connect=True connects Pushpin's SUB socket to a publisher: "
            "give its address in push_in_sub_specs (e.g. 'tcp://127.0.0.1:5563')"
        )
    return push_in_spec, subs


def _check_one_line(value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ValueError(f"{value!r} must be a single line")


def _split_key(key: str | bytes) -> tuple[bytes, str]:
    """The key's bytes, and how to write it in pushpin.conf (plain or ``base64:``)."""
    if isinstance(key, bytes):
        raw = key
    elif key.startswith("base64:"):
        try:
            raw = base64.b64decode(key[len("base64:") :], validate=True)
        except binascii.Error as exc:
            raise ValueError(f"sig_key {key!r} is not valid base64") from exc
        return raw, key
    else:
        raw = key.encode()
        if _PLAIN_KEY.fullmatch(key):
            return raw, key
    if not raw:
        raise ValueError("sig_key must not be empty")
    return raw, "base64:" + base64.b64encode(raw).decode()


def _free_port() -> int:
    """A port nobody listens on right now (bind 127.0.0.1:0 and let it go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pick_ports(http_port: int | None, publish_port: int | None) -> tuple[int, int]:
    """The given ports, with free ones (distinct from each other) for the missing."""
    if http_port is None:
        http_port = _free_port()
        while http_port == publish_port:
            http_port = _free_port()
    if publish_port is None:
        publish_port = _free_port()
        while publish_port == http_port:
            publish_port = _free_port()
    return http_port, publish_port


def _publish_answers(http_port: int, publish_port: int, timeout: float) -> bool:
    body = b'{"items":[]}'
    headers = {"Content-Type": "application/json"}
    return _request(publish_port, "POST", "/publish/", body, headers, timeout) == 200


def _proxy_answers(http_port: int, publish_port: int, timeout: float) -> bool:
    # Pushpin itself answers 502/503 while part of the chain is missing.
    status = _request(http_port, "GET", "/ready", None, {"Host": READY_HOST}, timeout)
    return status is not None and status < 500


def _holds_receive(http_port: int, publish_port: int, timeout: float) -> bool:
    """Hold a stream and a WebSocket on the built-in test handler, and publish to
    channel "test" until both receive it (a subscription is made asynchronously)."""
    token = f"ready-{os.urandom(6).hex()}"
    item = {
        "channel": "test",
        "formats": {"http-stream": {"content": f"{token}\n"}, "ws-message": {"content": token}},
    }
    publish = json.dumps({"items": [item]}).encode()
    key = base64.b64encode(os.urandom(16)).decode()
    handshakes = {
        "stream": f"GET /stream HTTP/1.1\r\nHost: {TEST_HOST}\r\n\r\n",
        "ws": (
            f"GET /ws HTTP/1.1\r\nHost: {TEST_HOST}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
    }
    expected = {"stream": b"HTTP/1.1 200 ", "ws": b"HTTP/1.1 101 "}
    deadline = time.monotonic() + timeout
    conns: dict[socket.socket, str] = {}
    received: dict[str, bytes] = {name: b"" for name in handshakes}
    try:
        for name, request in handshakes.items():
            conn = socket.create_connection(("127.0.0.1", http_port), timeout=timeout)
            conns[conn] = name
            conn.sendall(request.encode())
        next_publish = 0.0
        while time.monotonic() < deadline:
            if all(token.encode() in data for data in received.values()):
                return True
            answered = [name for name, data in received.items() if b"\r\n\r\n" in data]
            if any(not received[name].startswith(expected[name]) for name in answered):
                return False  # refused (e.g. "500 Accept service unavailable"): try again later
            if len(answered) == len(received) and time.monotonic() >= next_publish:
                headers = {"Content-Type": "application/json"}
                _request(publish_port, "POST", "/publish/", publish, headers, timeout)
                next_publish = time.monotonic() + 0.1
            readable, _, _ = select.select(list(conns), [], [], 0.05)
            for conn in readable:
                chunk = conn.recv(65536)
                if not chunk:
                    return False
                received[conns[conn]] += chunk
        return False
    except OSError:
        return False
    finally:
        for conn in conns:
            conn.close()


def _request(
    port: int,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float,
) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pids: Iterable[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(pids)
    while pending and time.monotonic() < deadline:
        pending = [pid for pid in pending if _pid_alive(pid)]
        if pending:
            time.sleep(0.02)


def _listener_owner(pid: int, port: int) -> str | None:
    """Who listens on 127.0.0.1:``port``: "pid", "other" or "nobody".

    None where /proc cannot tell (not Linux).
    """
    listeners: set[str] = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):  # a [::] listener takes 127.0.0.1 too
            if table.endswith("6") and not os.path.exists(table):
                continue
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()  # sl local_address rem_address st ... inode
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    listeners.add(fields[9])
        fds = os.listdir(f"/proc/{pid}/fd")
    except (OSError, IndexError, ValueError):
        return None
    if not listeners:
        return "nobody"
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in listeners:
            return "pid"
    return "other"


# Instances with processes or temporary directories not yet cleaned up: stopped
# at interpreter exit, so an exception anywhere never leaves Pushpin processes
# behind. (After a failed start the workdir stays until then, for its log.)
_INSTANCES: set[Pushpin] = set()
_atexit_registered = False


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_stop_all)
        _atexit_registered = True


def _stop_all() -> None:
    for pushpin in list(_INSTANCES):
        try:
            pushpin.stop()
        except Exception:  # pragma: no cover - best effort at exit
            logger.exception("could not stop %r", pushpin)


# -------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    """The command line of ``main()``: each option's dest is the ``Pushpin`` keyword it sets."""
    parser = argparse.ArgumentParser(
        prog="python -m grip_views.pushpin",
        description="Run a private Pushpin on 127.0.0.1 in front of a backend.",
    )
    add = parser.add_argument
    add("--backend", default="127.0.0.1:8000", help="origin host:port (default %(default)s)")
    add("--port", dest="http_port", type=int, help="client HTTP port (default: a free one)")
    add("--publish-port", type=int, help="publish port (default: a free one)")
    add("--sig-key", default="changeme", help="Grip-Sig key (default %(default)s)")
    add("--sig-iss", default="pushpin", help="Grip-Sig issuer (default %(default)s)")
    add(
        "--route",
        dest="routes",
        action="append",
        help="a routes-file line (repeatable); replaces the default",
    )
    buffer_help = "bytes per client buffer, two per connection; bounds a request's headers"
    add(
        "--client-buffer-size",
        type=int,
        default=CLIENT_BUFFER_SIZE,
        help=buffer_help + " (default %(default)s)",
    )
    maxconn_help = "most client connections at once (default %(default)s)"
    add("--client-maxconn", type=int, default=CLIENT_MAXCONN, help=maxconn_help)
    pull_help = "bind a PULL socket for ZeroMQ publishing (a spec, or a free loopback port)"
    add("--push-in-spec", nargs="?", const=True, default=False, help=pull_help)
    sub_help = "a SUB socket for ZeroMQ publishing: bound here, or connected with --push-in-sub-connect"
    add("--push-in-sub-spec", dest="push_in_sub_specs", action="append", help=sub_help)
    connect_help = "the SUB socket connects to the --push-in-sub-spec publisher(s) instead of binding"
    add("--push-in-sub-connect", action="store_true", help=connect_help)
    add("--loglevel", type=int, help="Pushpin log level (3 shows all traffic)")
    add("--workdir", help="keep config and logs here instead of a temporary directory")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one Pushpin in the foreground until Ctrl-C or SIGTERM."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        pushpin = Pushpin(**{**vars(args), "push_in_sub_specs": args.push_in_sub_specs or False})
    except ValueError as exc:
        parser.error(str(exc))
    try:
        pushpin.start()
        print(f"Pushpin pid {pushpin.pid} -> {pushpin.backend}")
        print(f"  url:         {pushpin.url}")
        print(f"  ws_url:      {pushpin.ws_url}")
        print(f"  publish_url: {pushpin.publish_url}/publish/")
        print(f"  GRIP_URL:    {pushpin.grip_url}")
        if pushpin.push_in_uri:
            print(f"  PULL:        {pushpin.push_in_uri} (control_zmq_push_uri)")
        for spec in pushpin.push_in_sub_uris:
            how = "connects to" if pushpin.push_in_sub_connect else "control_zmq_pub_uri"
            print(f"  SUB:         {spec} ({how})")
        print(f"  log:         {pushpin.log_path}")
        print("Ctrl-C to stop.", flush=True)
        while not stopping.wait(0.5):
            pushpin.assert_alive()
    except (PushpinError, PushpinNotInstalled) as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        pushpin.stop()
    print("Pushpin stopped.")
    return 0
