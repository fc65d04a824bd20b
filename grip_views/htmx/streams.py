"""Stream names, and signing them so a page can only follow what it was given.

A stream is named by its parts, as Turbo's ``turbo_stream_from`` does: a
string stays as it is, a model instance (a user too) becomes
``<app_label>.<model_name>:<pk>``, and the parts are joined with ``:``. The
name is the channel its fragments are published on.

A page gets the name **signed** (:func:`sign_stream`, Django's signing with
``SECRET_KEY``): the stream endpoint subscribes a client only to a name that
:func:`verify_stream` accepts, so nobody follows a stream the server did not
render for them. A stream with ``request.user`` among its parts is only ever
written into that user's pages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Union

from django.core import signing
from django.db import models

from ..exceptions import RejectConnection
from ..protocol.instructions import as_channel

__all__ = ["StreamLike", "dom_id", "sign_stream", "stream_name", "verify_stream"]

#: A stream: a name, a model instance, or a tuple of those (joined with ``:``).
StreamLike = Union[str, models.Model, Iterable[Any]]

_SALT = "grip_views.htmx.stream"


def _part(part: Any) -> str:
    if isinstance(part, models.Model):
        if part.pk is None:
            raise ValueError(f"an unsaved {type(part).__name__} cannot name a stream: save it first")
        return f"{part._meta.label_lower}:{part.pk}"
    if isinstance(part, str) and part:
        return part
    if isinstance(part, str):
        # What a template makes of a variable it cannot find: never let
        # ("notes", request.user) quietly become one stream for everyone.
        raise ValueError("a part of this stream's name is empty (a template variable that does not exist?)")
    raise TypeError(
        f"a stream's parts are strings and saved model instances, not {type(part).__name__} "
        "(an anonymous user has no stream of their own)"
    )


def stream_name(stream: StreamLike) -> str:
    """The channel name of ``stream``: ``"room"``, ``("todos", user)`` -> ``"todos:auth.user:7"``."""
    if isinstance(stream, (str, models.Model)):
        name = _part(stream)
    else:
        name = ":".join(_part(part) for part in stream)
    return as_channel(name).name  # InvalidChannel (a ValueError) for what cannot be a channel


def sign_stream(stream: StreamLike) -> str:
    """``stream``'s name with a signature, for a page to subscribe with."""
    return signing.Signer(salt=_SALT).sign(stream_name(stream))


def verify_stream(signed: str | None) -> str:
    """The stream name ``signed`` was made for; raises RejectConnection (403) if it was not made here."""
    if not signed:
        raise RejectConnection("This stream needs ?stream=<a signed stream name from the page>.", status=403)
    try:
        return signing.Signer(salt=_SALT).unsign(signed)
    except signing.BadSignature:
        raise RejectConnection("This stream name is not signed by this app (forged or altered).") from None


def dom_id(instance: models.Model, prefix: str = "") -> str:
    """The element id of ``instance`` in pages and fragments: ``todo-7`` (``prefix-todo-7``)."""
    base = f"{instance._meta.model_name}-{instance.pk}"
    return f"{prefix}-{base}" if prefix else base
