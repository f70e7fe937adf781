from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from server.admin import ReadOnlyAdmin
from sync.models import Change, RejectedChange


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
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


@admin.register(RejectedChange)
class RejectedChangeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("table", "record_id", "code", "user", "device_id", "attempts", "last_seen_at")
    list_filter = ("table", "code")
    search_fields = ("record_id",)
    list_select_related = ("user",)
    readonly_fields = [f.name for f in RejectedChange._meta.fields if f.name != "resolved_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
