"""Live HTML (grip_views.htmx) for tests/test_htmx.py and tests/e2e/test_htmx_e2e.py."""

from __future__ import annotations

from django.template.response import TemplateResponse
from django.urls import path

from grip_views.htmx import FragmentStreamView


def page(request):
    return TemplateResponse(request, "htmx_app/page.html")


urlpatterns = [
    path("live/", FragmentStreamView.as_view(), name="grip_htmx_stream"),
    path("page/", page),
]
