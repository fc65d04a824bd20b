"""``BroadcastChangesMixin``: a model whose creates, updates and deletes reach every open page.

Like Turbo's ``broadcasts_to``: after the transaction that saved or deleted
an instance commits, its fragment is rendered and published (durably) on the
model's stream. A created instance is appended to the list (``#todo-list``),
an updated one replaces its element (``#todo-7``), a deleted one is removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

from django.db import router, transaction

from .fragments import broadcast_fragment
from .streams import StreamLike, dom_id

__all__ = ["BroadcastChangesMixin"]

logger = logging.getLogger(__name__)


class BroadcastChangesMixin:
    """Put before ``models.Model``; set ``broadcast_stream`` (or override its ``get_*()``).

    Templates, first found wins: ``<app_label>/<model_name>_grip_<action>.html``
    then ``<app_label>/<model_name>_grip.html`` (``action`` is ``create`` or
    ``update``), rendered with ``object`` and ``<model_name>``. The fragment's
    first element replaces the instance's element on update, so it carries
    ``id="{{ object|dom_id }}"``. Only ``save()`` and ``delete()`` of an
    instance broadcast: ``QuerySet.update()`` and bulk operations do not.
    """

    #: The stream pages follow (``{% grip_stream %}`` with the same parts);
    #: ``"<app_label>.<model_name>"`` when None.
    broadcast_stream: ClassVar[StreamLike | None] = None
    #: The list created instances are added to; ``"#<model_name>-list"`` when None.
    broadcast_target: ClassVar[str | None] = None
    #: How a created instance is added to the list: ``beforeend`` (last) or ``afterbegin`` (first).
    broadcast_insert: ClassVar[str] = "beforeend"

    _meta: ClassVar[Any]
    _state: Any
    pk: Any

    def get_broadcast_stream(self) -> StreamLike:
        """The stream this instance's changes go to (e.g. ``("todos", self.owner)`` per user)."""
        return self.broadcast_stream if self.broadcast_stream is not None else str(self._meta.label_lower)

    def get_broadcast_target(self) -> str:
        """The CSS selector of the list a created instance is added to."""
        return self.broadcast_target or f"#{self._meta.model_name}-list"

    def get_broadcast_template_names(self, action: str) -> list[str]:
        """The templates of the ``create`` or ``update`` fragment, first found wins."""
        app, model = self._meta.app_label, self._meta.model_name
        return [f"{app}/{model}_grip_{action}.html", f"{app}/{model}_grip.html"]

    def get_broadcast_context(self) -> dict[str, Any]:
        """The templates' context: ``object`` and ``<model_name>``, as in ``DetailView``."""
        return {"object": self, str(self._meta.model_name): self}

    def save(self, *args: Any, **kwargs: Any) -> None:
        action = "create" if self._state.adding else "update"
        super().save(*args, **kwargs)  # type: ignore[misc]
        self._after_commit(partial(self.broadcast_change, action), self._state.db)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        # Read before the delete: afterwards the instance has no pk.
        stream, target = self.get_broadcast_stream(), f"#{dom_id(self)}"  # type: ignore[arg-type]
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)  # type: ignore[arg-type]
        result = super().delete(*args, **kwargs)  # type: ignore[misc]
        self._after_commit(partial(broadcast_fragment, stream, None, target=target, swap="delete"), using)
        return result

    def broadcast_change(self, action: str) -> int | None:
        """Render and publish this instance's ``create`` or ``update`` fragment now."""
        if action == "create":
            target, swap = self.get_broadcast_target(), self.broadcast_insert
        else:
            target, swap = f"#{dom_id(self)}", "outerHTML"  # type: ignore[arg-type]
        return broadcast_fragment(
            self.get_broadcast_stream(),
            self.get_broadcast_template_names(action),
            self.get_broadcast_context(),
            target=target,
            swap=swap,
        )

    @staticmethod
    def _after_commit(send: Callable[[], Any], using: str | None) -> None:
        def broadcast() -> None:  # a function: Django 5.2 names a failed callback by __qualname__
            send()

        # robust: the change is committed, so a fragment that fails to render is
        # logged (django.db.backends.base) instead of failing the request after the fact.
        transaction.on_commit(broadcast, using=using, robust=True)
