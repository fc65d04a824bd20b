"""Server-Sent Events framing: pure, framework-free."""

from __future__ import annotations

import json
import re
from typing import Any

_LINES = re.compile(r"\r\n|\r|\n")


def _field(name: str, value: str) -> str:
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"SSE {name} must not contain CR, LF or NUL: {value!r}")
    return f"{name}: {value}\n"


def format_event(
    data: Any,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> str:
    """One Server-Sent Event, framed so a browser's ``EventSource`` reads it whole.

    ``data`` that is not a string is sent as JSON. Each of its lines becomes a
    ``data:`` line (CRLF, CR and LF all count as line breaks), so multi-line
    data arrives unchanged in ``event.data``.
    """
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    out = ""
    if event is not None:
        out += _field("event", event)
    if id is not None:
        out += _field("id", str(id))
    if retry is not None:
        out += f"retry: {int(retry)}\n"
    out += "".join(f"data: {line}\n" for line in _LINES.split(text))
    return out + "\n"


def format_comment(text: str = "") -> str:
    """An SSE comment line (ignored by ``EventSource``; keeps the connection warm)."""
    return "".join(f": {line}\n" if line else ":\n" for line in _LINES.split(text)) + "\n"
