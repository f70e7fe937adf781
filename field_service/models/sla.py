"""Service level agreements: business calendars, policies with response and resolution
targets per priority and customer tier, and the warning and breach events a job raised."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import CustomerTier


class ServiceCalendar(models.Model):
    """When the clock runs: open hours per weekday and closed dates, read in each job's
    site's time zone. ``hours``: ``{"0": [["08:00", "12:00"], ["13:00", "17:00"]], ...}``
    (0 is Monday; "24:00" ends a day); ``holidays``: ``["2026-12-25", ...]``."""

    name = models.CharField(max_length=100, unique=True)
    hours = models.JSONField(default=dict)
    holidays = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.name


class SlaPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    calendar = models.ForeignKey(ServiceCalendar, on_delete=models.PROTECT, related_name="+")
    # The share of a target's time at which a warning fires.
    warn_share = models.FloatField(default=0.8)
    # Jobs created without a policy get the default one.
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_sla"
            ),
            models.CheckConstraint(
                condition=Q(warn_share__gt=0, warn_share__lte=1), name="sla_warn_share_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SlaTarget(models.Model):
    """Business minutes to respond (a technician on site) and to resolve (completed), for a
    priority and a customer tier (none: any tier without a target of its own)."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(max_length=8)
    tier = models.ForeignKey(
        CustomerTier, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "priority", "tier"], name="one_sla_target_per_tier"
            ),
            models.UniqueConstraint(
                fields=["policy", "priority"],
                condition=Q(tier__isnull=True),
                name="one_sla_target_for_any_tier",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} {self.priority}/{self.tier_id or '*'}"


class SlaEventKind(models.TextChoices):
    WARNING = "warning", "Warning"
    BREACH = "breach", "Breach"


class SlaMeasure(models.TextChoices):
    RESPONSE = "response", "Response"
    RESOLUTION = "resolution", "Resolution"


class SlaEvent(models.Model):
    """A warning or a breach a job raised, once each per measure."""

    work_order = models.ForeignKey(
        "field_service.WorkOrder", on_delete=models.CASCADE, related_name="sla_events"
    )
    kind = models.CharField(max_length=8, choices=SlaEventKind.choices)
    measure = models.CharField(max_length=16, choices=SlaMeasure.choices)
    # When the threshold was crossed (not when it was noticed).
    due_at = models.DateTimeField()
    raised_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["raised_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["work_order", "kind", "measure"], name="one_sla_event_each"
            )
        ]

    def __str__(self) -> str:
        return f"{self.work_order_id} {self.measure} {self.kind}"
