"""``broadcast_fragment``: render a template once, publish it to every page on a stream."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string

from ..durable import publish_durable
from ..protocol.sse import format_event
from .oob import oob_html
from .streams import StreamLike, stream_name

__all__ = ["FRAGMENT_EVENT", "broadcast_fragment", "fragment_payload"]

#: The SSE event fragments are sent as: what ``{% grip_stream %}``'s ``sse-swap`` listens for.
FRAGMENT_EVENT = "grip-fragment"


def fragment_payload(html: str, target: str, swap: str = "outerHTML") -> dict[str, Any]:
    """The durable payload of one fragment: an SSE event for ``sse-swap``, and the
    same ``hx-swap-oob`` HTML as a WebSocket message for htmx's ws extension."""
    content = oob_html(html, target, swap)
    return {
        "sse": format_event(content, event=FRAGMENT_EVENT),
        "formats": {"ws-message": {"content": content}},
    }


def broadcast_fragment(
    stream: StreamLike,
    template_name: str | Sequence[str] | None,
    context: Mapping[str, Any] | None = None,
    *,
    target: str,
    swap: str = "outerHTML",
    request: HttpRequest | None = None,
    using: str | None = None,
) -> int | None:
    """Render ``template_name`` with ``context`` once and swap it into every page following ``stream``.

    ``target`` is a CSS selector (``"#todo-7"``, ``"#todo-list"``) and ``swap``
    an htmx swap style (see :mod:`grip_views.htmx.oob`); ``template_name`` may
    be None for ``swap="delete"``. The publish is durable: stored in the
    history (in the current transaction of ``using`` with the database store),
    sent after the commit, and replayed to a page that reconnects with its
    last id. Returns the event's id (None while a non-transactional store
    waits for the commit).
    """
    if template_name is None:
        if swap != "delete":
            raise ValueError(f"swap={swap!r} needs a template_name (only swap='delete' needs none)")
        html = ""
    else:
        html = render_to_string(template_name, dict(context or {}), request=request)
    return publish_durable(stream_name(stream), fragment_payload(html, target, swap), using=using)
