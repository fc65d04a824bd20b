"""Running a private Pushpin on loopback, for tests, the demo and benchmarks.

Nothing here imports Django. :class:`Pushpin` is the process supervisor (see
:mod:`.process`); ``python -m grip_views.pushpin --backend 127.0.0.1:8000``
runs one from a shell.
"""

from .process import (
    INSTALL_COMMAND,
    Pushpin,
    PushpinError,
    PushpinNotInstalled,
    find_pushpin,
    install_pushpin,
)

__all__ = [
    "INSTALL_COMMAND",
    "Pushpin",
    "PushpinError",
    "PushpinNotInstalled",
    "find_pushpin",
    "install_pushpin",
]
