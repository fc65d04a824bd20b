#!/usr/bin/env python
"""Run the grip_views demo: Pushpin in front of Django's dev server, one command.

    python demo/run.py [--port 7999] [--django-port 8000] [--publish-port 5561]
                       [--server runserver|gunicorn|uvicorn]

``--server``: Django's development server by default; ``gunicorn`` (one
gthread worker, keeping Pushpin's connections alive: the README's
recommendation for production) or ``uvicorn`` (ASGI) serve it as a deployment
would.

Installs what is missing (the package itself with pip; Pushpin with apt-get
when run as root on Debian/Ubuntu, otherwise it prints the exact command),
generates Pushpin's config from the demo's settings, starts both, prints the
URLs, and stops both (by the PIDs it started) on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


#: Every module the demo imports that is not in this checkout, with the
#: distribution that provides it; ``pip install -e .[drf]`` installs them all.
REQUIRED_MODULES = {
    "django": "Django",
    "asgiref": "asgiref",
    "gripcontrol": "gripcontrol",
    "jwt": "PyJWT",
    "cryptography": "cryptography",
    "rest_framework": "djangorestframework",
    "django_htmx": "django-htmx",
}


def missing_modules(modules: Iterable[str] = REQUIRED_MODULES) -> list[str]:
    """The modules of ``modules`` that cannot be imported here."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def ensure_python_packages() -> None:
    missing = missing_modules()
    if not missing:
        return
    names = ", ".join(REQUIRED_MODULES.get(name, name) for name in missing)
    print(f"Installing grip_views and its dependencies with pip ({names} missing) ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[drf,htmx]"], check=True)
    importlib.invalidate_caches()
    still = missing_modules()
    if still:
        sys.exit(f"Still missing after pip install: {', '.join(still)}; install them for {sys.executable}")


#: How --server runs Django (from the demo folder, on 127.0.0.1:PORT), and the
#: module each needs.
SERVERS = {
    "runserver": (
        None,
        lambda port: [str(HERE / "manage.py"), "runserver", f"127.0.0.1:{port}", "--noreload"],
    ),
    "gunicorn": (
        "gunicorn",
        lambda port: [
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--keep-alive",
            "75",
            "demo.wsgi:application",
        ],
    ),
    "uvicorn": (
        "uvicorn",
        lambda port: ["-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "demo.asgi:application"],
    ),
}


def ensure_server(server: str) -> None:
    """pip-installs the server's package if it is missing, at the version the tests pin."""
    module = SERVERS[server][0]
    if module is None or not missing_modules([module]):
        return
    print(f"Installing {module} with pip ...", flush=True)
    pins = ROOT / "requirements" / "constraints.txt"
    constraints = ["-c", str(pins)] if pins.is_file() else []
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *constraints, module], check=True)
    importlib.invalidate_caches()


def ensure_pushpin() -> None:
    from grip_views.pushpin import PushpinNotInstalled, find_pushpin, install_pushpin

    if find_pushpin():
        return
    print("Pushpin is not installed; trying: apt-get update && apt-get install -y pushpin", flush=True)
    try:
        install_pushpin()
    except PushpinNotInstalled as exc:
        sys.exit(f"{exc}\n(run that as root, or install Pushpin from https://pushpin.org, then run me again)")


def wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urlopen(url, timeout=1).close()
            return
        except URLError as exc:
            if getattr(exc, "code", None):  # an HTTP error status: the server answers
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=7999, help="Pushpin's client port (default 7999)")
    parser.add_argument("--django-port", type=int, default=8000, help="Django's port (default 8000)")
    parser.add_argument(
        "--publish-port", type=int, default=5561, help="Pushpin's publish port (default 5561)"
    )
    parser.add_argument(
        "--server",
        choices=list(SERVERS),
        default="runserver",
        help="what serves Django behind Pushpin (default runserver, for development)",
    )
    args = parser.parse_args(argv)

    sys.path[:0] = [str(HERE), str(ROOT)]
    ensure_python_packages()
    ensure_server(args.server)
    ensure_pushpin()
    from grip_views.pushpin import Pushpin

    key = os.environ.get("DEMO_GRIP_KEY", "demo-key-change-me-0123456789abcdef")
    env = {
        **os.environ,
        "DEMO_GRIP_KEY": key,
        "GRIP_URL": f"http://127.0.0.1:{args.publish_port}/?iss=pushpin&key={key}",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "demo.settings",
        # gunicorn and uvicorn import demo.wsgi / demo.asgi and grip_views from here
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    manage = [sys.executable, str(HERE / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], check=True, env=env)

    pushpin = Pushpin(
        backend=f"127.0.0.1:{args.django_port}",
        sig_key=key,
        http_port=args.port,
        publish_port=args.publish_port,
    )
    django = subprocess.Popen([sys.executable, *SERVERS[args.server][1](args.django_port)], env=env, cwd=HERE)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\nStopping Pushpin and Django ...", flush=True)
        pushpin.stop()
        if django.poll() is None:
            django.terminate()
            try:
                django.wait(10)
            except subprocess.TimeoutExpired:
                django.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        pushpin.start()
        wait_for(f"http://127.0.0.1:{args.django_port}/")
        base = pushpin.url
        print(
            f"""
grip_views demo is running (Ctrl-C stops it).
  Live page (SSE + WebSocket): {base}/
  HTTP stream:   curl -N {base}/stream/
      publish:   curl -d data=hello {base}/stream/
  WebSocket echo: {pushpin.ws_url}/echo/
      broadcast: curl -d data=hi {base}/broadcast/
  SSE event:     curl -d data=hi {base}/events/
  Chat room:     {base}/chat/lobby/ (open it in two tabs)
  DRF API:       curl -N -H "Accept: text/event-stream" {base}/api/todos/
      change:    curl -u demo:demo -H "Content-Type: application/json" \\
                      -d '{{"title": "milk"}}' {base}/api/todos/
  Pushpin publish endpoint: {pushpin.publish_url}   Django ({args.server}): http://127.0.0.1:{args.django_port}/
""",
            flush=True,
        )
        while django.poll() is None:
            pushpin.assert_alive()
            time.sleep(0.5)
        print(f"Django exited with status {django.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
