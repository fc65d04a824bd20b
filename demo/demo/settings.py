"""Settings of the grip_views demo.

GRIP_URL comes from the environment when set, so the demo can be pointed at
any Pushpin; `python demo/run.py` starts one whose key matches the default.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

#: The key Pushpin signs requests with (its sig_key) and we publish with.
DEMO_GRIP_KEY = os.environ.get("DEMO_GRIP_KEY", "demo-key-change-me-0123456789abcdef")
GRIP_URL = os.environ.get("GRIP_URL", f"http://127.0.0.1:5561/?iss=pushpin&key={DEMO_GRIP_KEY}")
# A request that did not come through the proxy gets 501 instead of a hold.
GRIP_PROXY_REQUIRED = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "grip_views",
    "django_htmx",
    "grip_views.htmx",
    "demo",
    "rest_framework",
    "demo_api",
]

MIDDLEWARE = [
    "grip_views.middleware.GripMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "demo.errors.method_not_allowed_reason",
]
# Errors are one line of plain text (demo/forms.py, demo/errors.py), failed CSRF checks too.
CSRF_FAILURE_VIEW = "demo.errors.csrf_failure"
# The API's errors are DRF's {"detail": ...}, a body too large too (demo_api/exceptions.py).
REST_FRAMEWORK = {"EXCEPTION_HANDLER": "demo_api.exceptions.exception_handler"}

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"
ASGI_APPLICATION = "demo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB", str(BASE_DIR / "db.sqlite3")),
        # Durable publishes are sent by grip_views' sender thread beside the requests:
        # IMMEDIATE transactions wait for its writes instead of failing (grip_views.W006).
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }
}

USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"grip_views": {"handlers": ["console"], "level": "INFO"}},
}
