from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from server.models import User, UserRole


class UserRoleInline(admin.TabularInline):
    model = UserRole
    extra = 0


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [UserRoleInline]
    list_display = ("username", "display_name", "email", "is_active", "is_staff")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Fieldline", {"fields": ("display_name", "phone")}))  # type: ignore[misc]
