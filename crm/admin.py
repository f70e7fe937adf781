"""Admin pages for customers. The admin edits reference data directly; customer records are
read here and changed through the API, so every change reaches the change log."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from crm import models
from server.admin import ReadOnlyAdmin


class SiteInline(admin.TabularInline):
    model = models.Site
    fields = ("name", "is_primary", "city", "latitude", "longitude", "time_zone")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "tier", "lifecycle_stage", "owner", "created_at")
    list_filter = ("kind", "lifecycle_stage", "tier")
    search_fields = ("name", "email")
    list_select_related = ("tier", "owner")
    exclude = ("national_id", "bank_account")
    inlines = [SiteInline]


@admin.register(models.Site)
class SiteAdmin(ReadOnlyAdmin):
    list_display = ("name", "account", "city", "is_primary", "latitude", "longitude")
    search_fields = ("name", "city")
    list_select_related = ("account",)


@admin.register(models.Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ("last_name", "first_name", "account", "email", "phone")
    search_fields = ("last_name", "email")
    list_select_related = ("account",)


@admin.register(models.Asset)
class AssetAdmin(ReadOnlyAdmin):
    list_display = ("serial_number", "model_name", "account", "site", "warranty_end")
    search_fields = ("serial_number", "model_name")
    list_select_related = ("account", "site")


@admin.register(models.Interaction)
class InteractionAdmin(ReadOnlyAdmin):
    list_display = ("kind", "account", "author", "occurred_at")
    list_filter = ("kind",)
    list_select_related = ("account", "author")


@admin.register(models.Promise)
class PromiseAdmin(ReadOnlyAdmin):
    list_display = ("description", "account", "due_date", "done_at")
    list_select_related = ("account",)


@admin.register(models.ContactPreference)
class ContactPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("account", "contact", "channel", "opted_out", "consent_at")
    list_select_related = ("account", "contact")


@admin.register(models.CustomerTier)
class CustomerTierAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "rank")


@admin.register(models.Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ("name", "color")
