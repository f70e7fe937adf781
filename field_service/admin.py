from django.contrib import admin

from field_service.models import (
    Certification,
    CrewMember,
    DayPlanProposal,
    DispatchRecord,
    ServiceCalendar,
    ShiftException,
    ShiftPattern,
    Skill,
    SlaEvent,
    SlaPolicy,
    SlaTarget,
    TechnicianCertification,
    TechnicianProfile,
    TechnicianSkill,
    WorkOrder,
    WorkOrderTransition,
)
from server.admin import ReadOnlyAdmin

# Reference data and technicians' details are edited here.
admin.site.register(Skill)
admin.site.register(Certification)
admin.site.register(TechnicianProfile)
admin.site.register(TechnicianSkill)
admin.site.register(TechnicianCertification)
admin.site.register(ShiftPattern)
admin.site.register(ShiftException)
admin.site.register(ServiceCalendar)


class SlaTargetInline(admin.TabularInline):  # type: ignore[type-arg]
    model = SlaTarget
    extra = 0


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "calendar", "warn_share", "is_default")
    inlines = [SlaTargetInline]


# Jobs change through their services only (change log, state machine): read-only here.
class CrewInline(admin.TabularInline):  # type: ignore[type-arg]
    model = CrewMember
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(WorkOrder)
class WorkOrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "priority", "state", "territory", "scheduled_start", "lead")
    list_filter = ("state", "priority", "kind", "territory")
    search_fields = ("id", "description")
    list_select_related = ("lead",)
    inlines = [CrewInline]


@admin.register(WorkOrderTransition)
class WorkOrderTransitionAdmin(ReadOnlyAdmin):
    list_display = ("work_order", "from_state", "to_state", "at", "device_at", "actor")
    list_filter = ("to_state",)


@admin.register(DispatchRecord)
class DispatchRecordAdmin(ReadOnlyAdmin):
    list_display = ("work_order", "actor", "technicians", "start", "override_reason", "at")


@admin.register(DayPlanProposal)
class DayPlanProposalAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "territory", "date", "state", "created_by", "created_at")
    list_filter = ("state", "kind")


@admin.register(SlaEvent)
class SlaEventAdmin(ReadOnlyAdmin):
    list_display = ("work_order", "measure", "kind", "due_at", "raised_at")
    list_filter = ("measure", "kind")
