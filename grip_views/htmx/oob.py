"""How a fragment tells htmx where it goes: ``hx-swap-oob``, framework-free.

Both htmx extensions swap a fragment out of band: the WebSocket extension
only that way, and the SSE extension whenever the fragment carries
``hx-swap-oob`` (the element listening for it has ``hx-swap="none"``). So one
rendering, wrapped once here, serves both:

``outerHTML``  the fragment's first element replaces ``target``: it gets
               ``hx-swap-oob="outerHTML:<target>"`` (so it must start with one)
``delete``     ``target`` is removed; the fragment is not needed
others         (``innerHTML``, ``beforeend``, ``afterbegin``, ``beforebegin``,
               ``afterend``) the fragment goes in a ``<div>`` whose
               ``hx-swap-oob="<swap>:<target>"`` puts its children there
"""

from __future__ import annotations

import re
from html import escape

__all__ = ["SWAPS", "oob_html"]

#: The swap styles htmx 2 applies out of band.
SWAPS = frozenset({"outerHTML", "innerHTML", "beforebegin", "afterbegin", "beforeend", "afterend", "delete"})

# The fragment's first start tag, after any blank space and comments.
_FIRST_TAG = re.compile(r"\A(\s*(?:<!--.*?-->\s*)*)(<[A-Za-z][^\s/>]*)", re.DOTALL)


def oob_html(html: str, target: str, swap: str = "outerHTML") -> str:
    """``html`` marked to be swapped into the element(s) ``target`` (a CSS selector) by ``swap``."""
    if swap not in SWAPS:
        raise ValueError(f"swap={swap!r} is not an htmx swap style: use one of {', '.join(sorted(SWAPS))}")
    if not target or not target.strip():
        raise ValueError("target= must be a CSS selector, e.g. '#todo-list'")
    attribute = f'hx-swap-oob="{escape(f"{swap}:{target}")}"'
    if swap == "delete":
        return f"<div {attribute}></div>"
    if swap == "outerHTML":
        match = _FIRST_TAG.match(html)
        if match is None:
            raise ValueError(
                f"an outerHTML fragment for {target!r} must start with the element that replaces it, "
                f"not {html.lstrip()[:40]!r}"
            )
        return f"{match.group(1)}{match.group(2)} {attribute}{html[match.end() :]}"
    return f"<div {attribute}>{html}</div>"
