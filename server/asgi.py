"""ASGI entry point: HTTP goes to Django, WebSockets to Channels consumers."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from mobile_api.routing import websocket_urlpatterns  # noqa: E402

# In development daphne serves static files itself (the API docs need them); in production the
# reverse proxy serves the collected files.
http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.DEBUG else django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": http_app,
        # WebSockets authenticate with bearer tokens only, never cookies, so a cross-site page
        # cannot ride a session; devices send no Origin header, so none is required.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# Everything loaded so far lives as long as the process: move it out of the collector's way, so
# full collections stay short (they were most of the list benchmark's p99).
gc.collect()
gc.freeze()
