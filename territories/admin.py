from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from territories.models import (
    Assignment,
    Membership,
    Override,
    Territory,
    TerritoryModel,
    TerritoryType,
)


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """Changes go through the services (and their checks), not the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TerritoryModel)
class TerritoryModelAdmin(ReadOnly):
    list_display = ("version", "name", "state", "created_at", "activated_at")
    list_filter = ("state",)


@admin.register(TerritoryType)
class TerritoryTypeAdmin(ReadOnly):
    list_display = ("code", "name", "priority")


@admin.register(Territory)
class TerritoryAdmin(ReadOnly):
    list_display = ("code", "name", "type", "territory_model", "parent", "area", "vertices")
    list_filter = ("territory_model", "type")
    search_fields = ("code", "name")
    exclude = ("geometry",)
    list_select_related = ("type", "territory_model", "parent")


@admin.register(Membership)
class MembershipAdmin(ReadOnly):
    list_display = ("territory", "user", "role", "valid_from", "valid_to")
    list_filter = ("role",)
    list_select_related = ("territory", "user")


@admin.register(Assignment)
class AssignmentAdmin(ReadOnly):
    list_display = (
        "record_type",
        "record_id",
        "territory",
        "reason",
        "cause",
        "valid_from",
        "valid_to",
    )
    list_filter = ("record_type", "cause", "reason", "territory_model")
    search_fields = ("record_id",)
    list_select_related = ("territory",)


@admin.register(Override)
class OverrideAdmin(ReadOnly):
    list_display = (
        "record_type",
        "record_id",
        "territory_code",
        "created_by",
        "created_at",
        "removed_at",
    )
    search_fields = ("record_id", "territory_code")
