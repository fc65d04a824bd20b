"""``{% load grip_htmx %}``: ``{% grip_stream "todos" %}`` and ``{{ todo|dom_id }}``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.urls import NoReverseMatch, resolve, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ...history import get_history
from ..fragments import FRAGMENT_EVENT
from ..streams import dom_id as _dom_id
from ..streams import sign_stream, stream_name
from ..views import FragmentStreamView

register = template.Library()

#: The URL name ``{% grip_stream %}`` connects to, unless given ``url_name=``.
URL_NAME = "grip_htmx_stream"


def _stream_view(url_name: str) -> tuple[str, type[FragmentStreamView]]:
    try:
        url = reverse(url_name)
    except NoReverseMatch:
        raise ImproperlyConfigured(
            f"{{% grip_stream %}} connects to the URL named {url_name!r}, which is not routed: add "
            f'path("live/", FragmentStreamView.as_view(), name="{url_name}") to your urls.'
        ) from None
    view_class = getattr(resolve(url).func, "view_class", None)
    if not (isinstance(view_class, type) and issubclass(view_class, FragmentStreamView)):
        raise ImproperlyConfigured(
            f"the URL named {url_name!r} must route a grip_views.htmx.FragmentStreamView"
        )
    return url, view_class


@register.simple_tag
def grip_stream(*parts: Any, url_name: str = URL_NAME) -> SafeString:
    """A hidden element that follows the stream named by ``parts`` and swaps its fragments in.

    ``{% grip_stream "todos" %}``, ``{% grip_stream "todos" request.user %}``:
    the name is signed, so the page can follow this stream and no other.
    The element connects with htmx's SSE extension (load it with
    ``{% htmx_script extensions="hx-sse" %}``) from the last id the stream
    had when the page was rendered, so nothing published meanwhile is missed.
    """
    if not parts:
        raise template.TemplateSyntaxError(
            "{% grip_stream %} needs the stream's name, e.g. {% grip_stream 'todos' %}"
        )
    stream = parts[0] if len(parts) == 1 else parts
    url, view = _stream_view(url_name)
    query = {
        view.stream_param: sign_stream(stream),
        view.last_event_id_param: str(get_history().last_id(stream_name(stream))),
    }
    return format_html(
        '<div hidden hx-ext="sse" sse-connect="{}" sse-swap="{}" hx-swap="none" '
        'hx-trigger="sse:{}" hx-get="{}"></div>',
        f"{url}?{urlencode(query)}",
        FRAGMENT_EVENT,
        view.reset_event,
        f"{url}?{view.reload_param}=1",
    )


@register.filter
def dom_id(instance: models.Model, prefix: str = "") -> str:
    """``{{ todo|dom_id }}`` is ``todo-7``: the id the model's fragments target."""
    return _dom_id(instance, prefix)
