from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.core.checks import Error, register


class GripHtmxConfig(AppConfig):
    name = "grip_views.htmx"
    label = "grip_htmx"
    verbose_name = "grip_views: live HTML with htmx"

    def ready(self) -> None:
        register(check_django_htmx_installed)


def check_django_htmx_installed(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """htmx and its extensions are django-htmx's static files: its app must be installed."""
    if apps.is_installed("django_htmx"):
        return []
    return [
        Error(
            "grip_views.htmx is in INSTALLED_APPS but django_htmx is not, so {% htmx_script %} "
            "and the htmx static files are missing.",
            hint='Add "django_htmx" to INSTALLED_APPS (pip install "grip-views[htmx]").',
            id="grip_views.E018",
        )
    ]
