from django.apps import AppConfig


class HtmxAppConfig(AppConfig):
    name = "tests.htmx_app"
    label = "htmx_app"
    default_auto_field = "django.db.models.BigAutoField"
