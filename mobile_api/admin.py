from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from mobile_api.models import Device, RecordedPush


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    """Revoke devices through the API (``POST /api/v1/devices/{id}/revoke/``) so the socket is
    closed and the change is audited; the admin shows them."""

    list_display = ("user", "client_id", "platform", "app_version", "last_seen_at", "revoked_at")
    list_filter = ("platform",)
    list_select_related = ("user",)
    search_fields = ("client_id", "user__username")
    exclude = ("fcm_token", "refresh_jti", "previous_refresh_jti")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RecordedPush)
class RecordedPushAdmin(admin.ModelAdmin):
    list_display = ("created_at", "device", "title", "collapse_key")
    list_select_related = ("device",)
