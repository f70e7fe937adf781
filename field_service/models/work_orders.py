"""Work orders: a job at a customer's site, its crew, and every state it went through.

Work orders sync to the technicians on their crew (devices create none, but move them through
their states offline), so ids are strings and times are kept twice: when the server applied a
change, and when the device says it happened.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import Account, Asset, Site, SyncedModel


class WorkOrderKind(models.TextChoices):
    INSTALLATION = "installation", "Installation"
    REPAIR = "repair", "Repair"
    MAINTENANCE = "maintenance", "Maintenance"
    INSPECTION = "inspection", "Inspection"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Source(models.TextChoices):
    PHONE = "phone", "Phone"
    PORTAL = "portal", "Customer portal"
    SALES = "sales", "Sales"
    RECURRING_PLAN = "recurring_plan", "Recurring maintenance plan"
    COMPLAINT = "complaint", "Complaint"


class State(models.TextChoices):
    NEW = "new", "New"
    SCHEDULED = "scheduled", "Scheduled"
    DISPATCHED = "dispatched", "Dispatched"
    EN_ROUTE = "en_route", "En route"
    ON_SITE = "on_site", "On site"
    COMPLETED = "completed", "Completed"
    ON_HOLD = "on_hold", "On hold"
    CANNOT_COMPLETE = "cannot_complete", "Cannot complete"
    CANCELLED = "cancelled", "Cancelled"


class WorkOrder(SyncedModel):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="work_orders")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="work_orders")
    asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.PROTECT, related_name="work_orders"
    )
    kind = models.CharField(max_length=16, choices=WorkOrderKind.choices)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    description = models.TextField(blank=True)
    # Skill code -> the minimum level the job needs; certification codes it needs valid.
    required_skills = models.JSONField(default=dict, blank=True)
    required_certifications = models.JSONField(default=list, blank=True)
    estimated_minutes = models.PositiveIntegerField(default=60)
    # When the customer accepts a visit: [{"start": iso, "end": iso}, ...]; empty is any time.
    time_windows = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PHONE)
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    # Why it is on hold or could not be completed (required in those states).
    state_reason = models.TextField(blank=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    # The dispatch territory: the code of the site's territory in the active map.
    territory = models.CharField(max_length=64, blank=True, db_index=True)
    scheduled_start = models.DateTimeField(null=True, blank=True)
    scheduled_end = models.DateTimeField(null=True, blank=True)
    # Pinned by a dispatcher: a day plan keeps it with its technician at its time.
    pinned = models.BooleanField(default=False)
    crew = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="CrewMember", related_name="work_orders", blank=True
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="led_work_orders",
    )
    follow_up_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="follow_ups"
    )
    sla = models.ForeignKey(
        "field_service.SlaPolicy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="work_orders",
    )

    class Meta:
        indexes = [
            models.Index(fields=["state", "territory"]),
            models.Index(fields=["updated_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(scheduled_end__isnull=True)
                | Q(scheduled_end__gte=models.F("scheduled_start")),
                name="work_order_schedule_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} at {self.site_id} ({self.state})"


class CrewMember(models.Model):
    """A technician on a work order's crew; exactly one crew member leads."""

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="members")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="crew_memberships"
    )
    is_lead = models.BooleanField(default=False)
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["work_order", "technician"], name="crew_member_once"),
            models.UniqueConstraint(
                fields=["work_order"], condition=Q(is_lead=True), name="one_crew_lead"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.technician_id} on {self.work_order_id}{' (lead)' if self.is_lead else ''}"


class WorkOrderTransition(models.Model):
    """One change of state: when the server applied it, and when the device says it
    happened (offline work arrives later)."""

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=16, choices=State.choices)
    to_state = models.CharField(max_length=16, choices=State.choices)
    at = models.DateTimeField(default=timezone.now)
    device_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    device_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.work_order_id}: {self.from_state} -> {self.to_state}"


class DispatchRecord(models.Model):
    """An assignment as the dispatcher made it: the crew and times, what the checks found,
    and the reason given for overriding them (the audit of overrides)."""

    work_order = models.ForeignKey(
        WorkOrder, on_delete=models.CASCADE, related_name="dispatch_records"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    technicians = models.JSONField(default=list)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    violations = models.JSONField(default=list, blank=True)
    override_reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.work_order_id} -> {self.technicians}"


class PlanKind(models.TextChoices):
    PLAN = "plan", "Day plan"
    REPLAN = "replan", "Re-plan of the rest of the day"


class PlanState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PROPOSED = "proposed", "Proposed"
    FAILED = "failed", "Failed"
    ACCEPTED = "accepted", "Accepted"


class DayPlanProposal(models.Model):
    """An optimised day for a territory's technicians, as the solver proposed it. The
    dispatcher accepts it whole or in part; acceptance assigns through the same service as a
    manual assignment."""

    kind = models.CharField(max_length=8, choices=PlanKind.choices, default=PlanKind.PLAN)
    territory = models.CharField(max_length=64)
    date = models.DateField()
    time_zone = models.CharField(max_length=64, default="UTC")
    time_limit_s = models.FloatField(default=10.0)
    state = models.CharField(max_length=16, choices=PlanState.choices, default=PlanState.QUEUED)
    # The solver's progress while it runs: best cost so far, seconds, iterations.
    progress = models.JSONField(default=dict, blank=True)
    # routes: [{technician, stops: [{work_order, arrival, start, end}]}], unplanned, totals,
    # and for a re-plan the changed arrival times.
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    accepted = models.JSONField(default=list, blank=True)  # work order ids assigned from it
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.territory} {self.date} ({self.state})"
