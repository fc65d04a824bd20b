"""Who is in a room, through DRF: :class:`PresenceMembersAPIView`."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..exceptions import ChannelDenied, InvalidChannel
from ..presence.views import members_json
from ..subscriptions import SubscriptionMixin

__all__ = ["PresenceMembersAPIView"]


class PresenceMembersAPIView(SubscriptionMixin, APIView):
    """``GET``: the members of the view's one channel, ``{"channel", "count", "members"}``
    (as :class:`grip_views.presence.PresenceMembersView`), with DRF's authentication,
    ``permission_classes``, throttles and renderers. A channel ``can_subscribe()``
    denies is DRF's 403; a name that cannot be a channel its 400."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            channels = self.get_channels()
        except InvalidChannel as exc:
            raise exceptions.ParseError(str(exc)) from None
        except ChannelDenied as exc:
            self.permission_denied(request, message=exc.reason)
        return Response(members_json(self, channels))
