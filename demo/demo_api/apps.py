from django.apps import AppConfig


class DemoApiConfig(AppConfig):
    name = "demo_api"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Realtime todo API"
