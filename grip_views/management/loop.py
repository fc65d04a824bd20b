"""What the long-running management commands share: one step every ``interval``
seconds until SIGTERM or SIGINT (or once), each failure logged, never fatal;
``LoopCommand`` is such a command, with its ``--interval`` and ``--once``."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


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


class LoopCommand(BaseCommand):
    """A long-running command: ``step()`` every ``--interval`` seconds until SIGTERM
    or SIGINT, or once with ``--once`` (see ``run_until_stopped``)."""

    #: The ``--help`` of ``--interval`` and of ``--once``.
    interval_help: str
    once_help: str
    #: Where a failed step is logged, and what its line says of it.
    logger: logging.Logger
    failure = "failed"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help=self.interval_help)
        parser.add_argument("--once", action="store_true", help=self.once_help)

    def step(self) -> None:
        """One round of the command's work."""
        raise NotImplementedError

    def backoff_max(self) -> float | None:
        """The longest wait after failed steps (None: ``--interval``)."""
        return None

    def handle(self, *args: Any, **options: Any) -> None:
        name = self.__module__.rpartition(".")[2]  # the command's name, as Django finds it
        interval, once = options["interval"], options["once"]
        if not run_until_stopped(
            self.step, interval, once, self.logger, name, self.failure, self.backoff_max()
        ):
            self.stdout.write(f"{name} stopped")
