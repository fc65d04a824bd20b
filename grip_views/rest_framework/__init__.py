from ._all import *  # noqa: F403  (temporary during the split)
from ._all import __all__  # noqa: F401
