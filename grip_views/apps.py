from django.apps import AppConfig


class GripViewsConfig(AppConfig):
    name = "grip_views"
    verbose_name = "GRIP views"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
