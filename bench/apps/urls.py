"""One URL layout for every variant: /<variant>/{stream,poll,ws}/<channel>/.

Each server imports only its own variant's views (settings.BENCH_VIEWS), so the
grip_views server never loads django-grip and the other way round. Some
variants share a module: ``jwt`` is ``plain`` behind a signature check,
``gva``/``gvs`` are the ``Async*`` views, ``gv01``/``gv01a`` the 0.1 API.
"""

from importlib import import_module

from django.conf import settings
from django.http import HttpResponse
from django.urls import include, path


def health(request):
    return HttpResponse("ok\n", content_type="text/plain")


_MODULES = {"jwt": "plain", "gva": "gv_async", "gvs": "gv_async", "gv01a": "gv01"}
# A base tree with the 0.2 API runs the 0.2 views under the 0.1 prefixes.
_MODULES.update(getattr(settings, "BENCH_VIEW_MODULES", {}))

urlpatterns = [path("health/", health)]
for _name in getattr(settings, "BENCH_VIEWS", []):
    _module = _MODULES.get(_name, _name)
    _views = import_module(f"bench.apps.views_{_module}")
    urlpatterns.append(path(f"{_name}/", include(_views.patterns(_name))))
