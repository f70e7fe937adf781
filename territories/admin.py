from django.contrib import admin

from server.admin import ReadOnlyAdmin
from territories.models import (
    Assignment,
    Membership,
    Override,
    Territory,
    TerritoryJob,
    TerritoryModel,
    TerritoryType,
)


@admin.register(TerritoryModel)
class TerritoryModelAdmin(ReadOnlyAdmin):
    list_display = ("version", "name", "state", "created_at", "activated_at")
    list_filter = ("state",)


@admin.register(TerritoryType)
class TerritoryTypeAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "priority")


@admin.register(Territory)
class TerritoryAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "type", "territory_model", "parent", "area", "vertices")
    list_filter = ("territory_model", "type")
    search_fields = ("code", "name")
    exclude = ("geometry",)
    list_select_related = ("type", "territory_model", "parent")


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ("territory", "user", "role", "valid_from", "valid_to")
    list_filter = ("role",)
    list_select_related = ("territory", "user")


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
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
class OverrideAdmin(ReadOnlyAdmin):
    list_display = (
        "record_type",
        "record_id",
        "territory_code",
        "created_by",
        "created_at",
        "removed_at",
    )
    search_fields = ("record_id", "territory_code")


@admin.register(TerritoryJob)
class TerritoryJobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "territory_model",
        "state",
        "stage",
        "done",
        "total",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("kind", "state")
    list_select_related = ("territory_model", "created_by")
