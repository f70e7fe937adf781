from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from server import health
from server.errors import envelope

api_v1 = [
    path("", include("mobile_api.urls")),
    path("", include("crm.urls")),
    path("", include("sync.urls")),
    path("", include("territories.urls")),
    path("", include("field_service.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(envelope("not_found", "No such endpoint."), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(envelope("internal_error", "An unexpected error occurred."), status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(envelope("bad_request", "The request could not be understood."), status=400)


handler400 = bad_request
handler404 = not_found
handler500 = server_error
