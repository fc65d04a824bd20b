"""The demo's one account, demo/demo: for trying writes with curl -u demo:demo."""

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import migrations


def create_demo_user(apps, schema_editor):
    app_label, model_name = settings.AUTH_USER_MODEL.split(".")
    User = apps.get_model(app_label, model_name)
    if not User.objects.filter(username="demo").exists():
        User.objects.create(username="demo", password=make_password("demo"))


class Migration(migrations.Migration):
    dependencies = [("demo_api", "0001_initial")]

    operations = [migrations.RunPython(create_demo_user, migrations.RunPython.noop)]
