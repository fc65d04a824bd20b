"""One URL layout for every variant: /<variant>/{stream,poll,ws}/<channel>/.

Each server imports only its own variant's views (settings.BENCH_VIEWS), so the
grip_views server never loads django-grip and the other way round.
"""

from importlib import import_module

from django.conf import settings
from django.http import HttpResponse
from django.urls import include, path


def health(request):
    return HttpResponse("ok\n", content_type="text/plain")


urlpatterns = [path("health/", health)]
for _name in getattr(settings, "BENCH_VIEWS", []):
    _module = "plain" if _name == "jwt" else _name
    _views = import_module(f"bench.apps.views_{_module}")
    urlpatterns.append(path(f"{_name}/", include(_views.patterns(_name))))
