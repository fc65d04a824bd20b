"""The test project as an ASGI application, for uvicorn in the end-to-end tests."""

from django.core.asgi import get_asgi_application

application = get_asgi_application()
