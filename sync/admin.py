from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from sync.models import Change


@admin.register(Change)
class ChangeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "version",
        "table",
        "record_id",
        "operation",
        "actor",
        "device_id",
        "created_at",
    )
    list_filter = ("table", "operation")
    search_fields = ("record_id", "request_id")
    list_select_related = ("actor",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
