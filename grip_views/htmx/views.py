"""``FragmentStreamView``: the one endpoint every ``{% grip_stream %}`` connects to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from django.http import HttpRequest, HttpResponseBase
from django_htmx.http import HttpResponseClientRefresh

from ..protocol.instructions import ChannelLike
from ..views import EventStreamView
from .streams import verify_stream

__all__ = ["FragmentStreamView"]


class FragmentStreamView(EventStreamView):
    """Server-Sent Events of HTML fragments, for htmx's SSE extension.

    Route it once, named ``grip_htmx_stream``. A client is held on the stream
    named by its signed ``?stream=`` (a 403 with a one-line reason when the
    name is missing, forged or altered). It is durable: a page that reconnects
    gets what it missed (``Last-Event-ID``, or the last id the page was
    rendered at), or a ``reset`` event, on which ``{% grip_stream %}``'s
    element asks for ``?reload`` and htmx reloads the page (``HX-Refresh``).
    Override :meth:`can_subscribe` to check more than the signature.
    """

    durable = True
    #: The query parameters of the signed stream name and of the reload asked for on reset.
    stream_param: ClassVar[str] = "stream"
    reload_param: ClassVar[str] = "reload"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if self.reload_param in request.GET:
            return HttpResponseClientRefresh()
        return super().get(request, *args, **kwargs)

    def channels_for(self) -> Iterable[ChannelLike]:
        """The stream whose signed name the page was given."""
        return [verify_stream(self.request.GET.get(self.stream_param))]
