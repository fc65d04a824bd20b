"""Running a private Pushpin on loopback, for tests, the demo and benchmarks.

Nothing here imports Django. :class:`Pushpin` is the process supervisor (see
:mod:`.process` for what it exports); ``python -m grip_views.pushpin --backend
127.0.0.1:8000`` runs one from a shell.
"""

from . import process
from .process import *  # noqa: F403  (its __all__: Pushpin, PushpinError, find_pushpin...)

__all__ = process.__all__
