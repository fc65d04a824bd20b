"""Settings for grip_views' own tests."""

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "grip_views",
    "django_htmx",
    "grip_views.htmx",
    "tests",
    "tests.drf_app",
    "tests.htmx_app",
]
MIDDLEWARE = [
    "grip_views.middleware.GripMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
GRIP_PROXIES = [
    {
        "control_uri": "http://127.0.0.1:1",  # nothing listens: unit tests use the in-memory publisher
        "control_iss": "pushpin",
        "key": "a-test-key-that-is-at-least-32-bytes-long",
        "verify_iss": "pushpin",
    }
]
GRIP_PUBLISH_BACKEND = "grip_views.testing.InMemoryPublisher"
STATIC_URL = "/static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
