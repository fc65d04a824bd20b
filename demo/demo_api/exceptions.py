"""DRF's exception handler, with a body too large for Django a 413 in DRF's format.

Django raises ``RequestDataTooBig`` from ``request.data`` when a body exceeds
``DATA_UPLOAD_MAX_MEMORY_SIZE``; DRF leaves it to Django, whose answer is a
400 HTML page.
"""

from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.views import exception_handler as drf_exception_handler


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is too large."
    default_code = "request_too_large"


def exception_handler(exc, context):
    """``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: DRF's, knowing ``RequestDataTooBig``."""
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    return drf_exception_handler(exc, context)
