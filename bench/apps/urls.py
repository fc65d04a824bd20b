"""One URL layout for every variant: /<variant>/{stream,poll,ws}/<channel>/.

Each server imports only its own variant's views (settings.BENCH_VIEWS), so the
grip_views server never loads django-grip and the other way round. Some
variants share a module: ``jwt`` is ``plain`` behind a signature check,
``gva``/``gvs`` are the ``Async*`` views, ``gv01``/``gv01a`` the 0.1 API.

``VARIANT_URLCONFS[name]`` holds one variant's views alone (and ``health/``),
for the in-process benchmark: each variant's requests resolve in their own
URL list, as on its own server, so that none pays for trying the others'
prefixes first (a prefix tried and missed costs each request a Resolver404,
about 2 % of a plain request here).
"""

from importlib import import_module
from types import ModuleType

from django.conf import settings
from django.http import HttpResponse
from django.urls import include, path


def health(request):
    return HttpResponse("ok\n", content_type="text/plain")


_MODULES = {"jwt": "plain", "gva": "gv_async", "gvs": "gv_async", "gv01a": "gv01"}
# A base tree with the 0.2 API runs the 0.2 views under the 0.1 prefixes.
_MODULES.update(getattr(settings, "BENCH_VIEW_MODULES", {}))

urlpatterns = [path("health/", health)]
VARIANT_URLCONFS: dict[str, ModuleType] = {}
for _name in getattr(settings, "BENCH_VIEWS", []):
    _module = _MODULES.get(_name, _name)
    _views = import_module(f"bench.apps.views_{_module}")
    _pattern = path(f"{_name}/", include(_views.patterns(_name)))
    urlpatterns.append(_pattern)
    VARIANT_URLCONFS[_name] = ModuleType(f"{__name__}[{_name}]")  # hashable, as Django's resolver cache needs
    VARIANT_URLCONFS[_name].urlpatterns = [urlpatterns[0], _pattern]  # type: ignore[attr-defined]
