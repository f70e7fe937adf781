"""Territory models: versions of the sales and service map, their territories (a tree of
regions, areas and territories with polygons), who works each one, and which territory each
site and account belongs to over time.

Geometry is stored as WKB with its area and bounds beside it; only ``territories.geometry``
reads it. A territory keeps its ``code`` across model versions: scope keys are
``territory:<code>``, so a realignment moves only the records whose territory changes.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


def new_revision() -> str:
    return uuid.uuid4().hex


class ModelState(models.TextChoices):
    PLANNING = "planning", "Planning"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class TerritoryModel(models.Model):
    """One version of the map. Exactly one is active; planning ones are edited and previewed,
    then activated."""

    name = models.CharField(max_length=100)
    state = models.CharField(max_length=16, choices=ModelState.choices, default=ModelState.PLANNING)
    version = models.PositiveIntegerField(unique=True)
    # Replaced whenever the model's territories change, so cached spatial indexes are rebuilt
    # (random, so a rolled-back change can never be mistaken for a later one).
    revision = models.CharField(max_length=32, default=new_revision)
    cloned_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="clones"
    )
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="active"), name="one_active_territory_model"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.name} ({self.state})"


class TerritoryType(models.Model):
    """Region, area, territory, or a specialised overlay. Where territories overlap, the type
    with the lower ``priority`` number wins (1 first)."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return self.name


class Territory(models.Model):
    territory_model = models.ForeignKey(
        TerritoryModel, on_delete=models.CASCADE, related_name="territories"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    type = models.ForeignKey(TerritoryType, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    # The last tie-break between overlapping territories of one priority and area: lower first.
    order = models.PositiveIntegerField(default=0)
    geometry = models.BinaryField(help_text="WKB polygon or multipolygon, WGS84 lng/lat.")
    area = models.FloatField(help_text="Square kilometres (equal-area estimate).")
    min_lng = models.FloatField()
    min_lat = models.FloatField()
    max_lng = models.FloatField()
    max_lat = models.FloatField()
    vertices = models.PositiveIntegerField()

    class Meta:
        ordering = ["territory_model", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["territory_model", "code"], name="territory_code_unique_in_model"
            ),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="territory_not_own_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class MemberRole(models.TextChoices):
    OWNER = "owner", "Owner"
    REP = "rep", "Sales rep"
    TECHNICIAN = "technician", "Technician"
    DISPATCHER = "dispatcher", "Dispatcher"
    MANAGER = "manager", "Manager"


class Membership(models.Model):
    """A user working a territory in a role, from ``valid_from`` until ``valid_to`` (inclusive;
    open when null)."""

    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="territory_memberships"
    )
    role = models.CharField(max_length=16, choices=MemberRole.choices)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["territory", "role", "valid_from"]
        indexes = [models.Index(fields=["user", "valid_from"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")),
                name="membership_dates_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} in {self.territory_id}"


class RecordType(models.TextChoices):
    SITE = "site", "Site"
    ACCOUNT = "account", "Account"


class Reason(models.TextChoices):
    ASSIGNED = "", "Assigned"
    NO_GEOCODE = "no_geocode", "No coordinates"
    OUTSIDE_ALL = "outside_all", "Outside every territory"
    OVERLAP_TIE = "overlap_tie", "Tied between overlapping territories"


class Cause(models.TextChoices):
    GEO = "geo", "Point in polygon"  # a site, by its coordinates
    RULE = "rule", "Rule"  # an account, by its primary site
    MANUAL = "manual", "Manual override"


class Assignment(models.Model):
    """A record's primary territory in a model, effective from ``valid_from`` until
    ``valid_to`` (open while current). A record without one carries a ``reason``."""

    territory_model = models.ForeignKey(
        TerritoryModel, on_delete=models.CASCADE, related_name="assignments"
    )
    record_type = models.CharField(max_length=16, choices=RecordType.choices)
    record_id = models.CharField(max_length=64)
    territory = models.ForeignKey(
        Territory, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments"
    )
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    cause = models.CharField(max_length=8, choices=Cause.choices)
    valid_from = models.DateTimeField(default=timezone.now)
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["record_type", "record_id", "valid_from"]),
            models.Index(fields=["territory_model", "record_type", "territory"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["territory_model", "record_type", "record_id"],
                condition=Q(valid_to__isnull=True),
                name="one_current_assignment",
            ),
            models.CheckConstraint(
                condition=Q(territory__isnull=True, reason__gt="")
                | Q(territory__isnull=False, reason=""),
                name="assignment_territory_or_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_type}/{self.record_id} -> {self.territory_id or self.reason}"


class Override(models.Model):
    """A record put in a territory by hand, by territory code so it carries over to the next
    model version. Removed overrides are kept (``removed_at``)."""

    record_type = models.CharField(max_length=16, choices=RecordType.choices)
    record_id = models.CharField(max_length=64)
    territory_code = models.CharField(max_length=64)
    cause = models.TextField(help_text="Why the record is placed by hand.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record_type", "record_id"],
                condition=Q(removed_at__isnull=True),
                name="one_open_override",
            )
        ]

    def __str__(self) -> str:
        return f"{self.record_type}/{self.record_id} -> {self.territory_code}"


class JobKind(models.TextChoices):
    ASSIGN = "assign", "Assign"
    PREVIEW = "preview", "Preview"
    ACTIVATE = "activate", "Activate"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class TerritoryJob(models.Model):
    """A long operation on a territory model (assignment, preview, activation), run by the
    task worker. ``stage``, ``done`` and ``total`` say how far it is; ``result`` or ``error``
    says how it ended."""

    kind = models.CharField(max_length=16, choices=JobKind.choices)
    territory_model = models.ForeignKey(
        TerritoryModel, on_delete=models.CASCADE, related_name="jobs"
    )
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    stage = models.CharField(max_length=32, blank=True)
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} v{self.territory_model_id} ({self.state})"
