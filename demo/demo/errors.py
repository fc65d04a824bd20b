"""The demo's errors that Django answers itself, as one plain-text line.

Django answers a wrong method with an empty 405 and a failed CSRF check with
an HTML page; the demo's own errors are one line (see ``forms.field_error``).
"""

from django.http import HttpResponseForbidden, HttpResponseNotAllowed

TEXT = "text/plain; charset=utf-8"


def method_not_allowed_reason(get_response):
    """Middleware: Django's 405 (``http_method_names``, ``require_POST``) says which methods to use."""

    def middleware(request):
        response = get_response(request)
        if isinstance(response, HttpResponseNotAllowed) and not response.content:
            response.content = f"{request.method} is not allowed here: use {response['Allow']}.\n"
            response["Content-Type"] = TEXT
        return response

    return middleware


def csrf_failure(request, reason=""):
    """``CSRF_FAILURE_VIEW``: a failed CSRF check (a POST to a page) as one line."""
    return HttpResponseForbidden(f"CSRF verification failed: {reason}\n", content_type=TEXT)
