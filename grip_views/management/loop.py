"""What the long-running management commands share: one step every ``interval``
seconds until SIGTERM or SIGINT (or once), each failure logged, never fatal."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable


def run_until_stopped(
    step: Callable[[], object],
    interval: float,
    once: bool,
    logger: logging.Logger,
    name: str,
    failure: str = "failed",
    backoff_max: float | None = None,
) -> bool:
    """Call ``step()`` every ``interval`` seconds until SIGTERM or SIGINT (both stop it
    cleanly after the step it is in), or once with ``once``. A failing step is logged
    and the next waits twice as long, up to ``backoff_max`` (``interval`` when None);
    with ``once`` a failure raises SystemExit(1). False when it was stopped by a signal."""
    stop = threading.Event()
    interval = max(0.05, interval)

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    delay = interval
    try:
        while True:
            try:
                step()
            except Exception as exc:
                delay = min(delay * 2, backoff_max if backoff_max is not None else interval)
                logger.error("grip_views: %s: %s (next try in %.1f s): %s", name, failure, delay, exc)
                if once:
                    raise SystemExit(1) from exc
            else:
                delay = interval
                if once:
                    return True
            if stop.wait(delay):
                return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
