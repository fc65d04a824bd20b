"""Reading a form field, with a one-line 400 for every POST the demo cannot use.

Django alone reads form bytes that are not UTF-8 as U+FFFD or Latin-1 (a
wrong value, not an error), and raises from ``request.POST`` for a body it
cannot parse, which becomes an HTML error page.
"""

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpResponse, HttpResponseBadRequest
from django.http.multipartparser import MultiPartParserError

TEXT = "text/plain; charset=utf-8"


def field_error(request, name):
    """A 400 saying what is wrong with the POST's text field ``name``, or None if nothing is."""
    try:
        request.body.decode()  # strict, where Django's form parsers replace what is not UTF-8
        value = request.POST.get(name)
    except RequestDataTooBig:
        return HttpResponse("The body is too large.\n", status=413, content_type=TEXT)
    except UnicodeDecodeError:
        return HttpResponseBadRequest("The body is not UTF-8.\n", content_type=TEXT)
    except (BadRequest, MultiPartParserError, SuspiciousOperation) as exc:  # a form Django cannot read
        return HttpResponseBadRequest(f"{exc}\n", content_type=TEXT)
    if value is None:
        reason = f"The form field {name!r} is missing: send {name}=<text>."
    elif not value:
        reason = f"The form field {name!r} is empty."
    elif "\ufffd" in value:  # what Django makes of %-escaped bytes that are not UTF-8
        reason = f"The form field {name!r} is not UTF-8."
    else:
        return None
    return HttpResponseBadRequest(f"{reason}\n", content_type=TEXT)
