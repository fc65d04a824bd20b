"""Live HTML with htmx: server-rendered fragments, published after commit, swapped into open pages.

Add ``"django_htmx"`` and ``"grip_views.htmx"`` to ``INSTALLED_APPS``
(``pip install "grip-views[htmx]"``), route :class:`FragmentStreamView` once
(named ``grip_htmx_stream``), and:

* in a template, ``{% load grip_htmx %}{% grip_stream "todos" %}`` follows a
  stream (its name signed, so a page follows only what it was given);
* from code, :func:`broadcast_fragment` renders a template once and publishes
  it to every page on a stream;
* on a model, :class:`BroadcastChangesMixin` does that after every create,
  update and delete commits.

This subpackage is the only part of grip_views that imports django-htmx.
"""

from __future__ import annotations

from .broadcasts import BroadcastChangesMixin
from .fragments import FRAGMENT_EVENT, broadcast_fragment
from .oob import oob_html
from .streams import dom_id, sign_stream, stream_name, verify_stream
from .views import FragmentStreamView

__all__ = [
    "FRAGMENT_EVENT",
    "BroadcastChangesMixin",
    "FragmentStreamView",
    "broadcast_fragment",
    "dom_id",
    "oob_html",
    "sign_stream",
    "stream_name",
    "verify_stream",
]
