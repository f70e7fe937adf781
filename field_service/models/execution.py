"""Doing the job, offline: the records a technician's device creates while on a job (check-in
and check-out, time, parts, checklist answers, notes), and the reference data they use (the
parts catalogue, checklist templates per kind of job). All of it syncs, so ids are strings
and the device's own times are kept."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.models import SyncedModel
from field_service.models.work_orders import WorkOrder, WorkOrderKind


class Part(SyncedModel):
    """The parts catalogue: reference data every device holds."""

    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=16, default="pcs")

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ChecklistTemplate(SyncedModel):
    """What a technician checks on a kind of job. ``items``: ``[{"key", "label", "type"
    (yes_no, number, text), "required"}]``; required items must be answered before the job
    is completed."""

    kind = models.CharField(max_length=16, choices=WorkOrderKind.choices, unique=True)
    name = models.CharField(max_length=200)
    items = models.JSONField(default=list)

    def __str__(self) -> str:
        return self.name

    def required_keys(self) -> list[str]:
        return [item["key"] for item in self.items if item.get("required")]


class JobRecord(SyncedModel):
    """A record a technician makes on a job."""

    work_order = models.ForeignKey(WorkOrder, on_delete=models.PROTECT, related_name="+")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        abstract = True


class SiteVisit(JobRecord):
    """Check-in and check-out at the site, with the device's position and times. A check-in
    far from the site is flagged (``distance_m`` from the site), never refused."""

    checked_in_at = models.DateTimeField()
    check_in_latitude = models.FloatField(null=True, blank=True)
    check_in_longitude = models.FloatField(null=True, blank=True)
    checked_out_at = models.DateTimeField(null=True, blank=True)
    check_out_latitude = models.FloatField(null=True, blank=True)
    check_out_longitude = models.FloatField(null=True, blank=True)
    distance_m = models.PositiveIntegerField(null=True, blank=True)
    far_from_site = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(checked_out_at__isnull=True)
                | Q(checked_out_at__gte=models.F("checked_in_at")),
                name="site_visit_ordered",
            )
        ]


class TimeKind(models.TextChoices):
    TRAVEL = "travel", "Travel"
    WORK = "work", "Work"
    BREAK = "break", "Break"


class TimeEntry(JobRecord):
    kind = models.CharField(max_length=8, choices=TimeKind.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="time_entry_ordered",
            )
        ]


class PartUsage(JobRecord):
    part = models.ForeignKey(Part, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(max_digits=10, decimal_places=3)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="part_quantity_positive")
        ]


class ChecklistAnswer(JobRecord):
    item_key = models.CharField(max_length=64)
    value = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["work_order", "item_key"],
                condition=Q(archived_at__isnull=True),
                name="one_answer_per_item",
            )
        ]


class JobNote(JobRecord):
    body = models.TextField()


class AttachmentKind(models.TextChoices):
    PHOTO = "photo", "Photo"
    SIGNATURE = "signature", "Customer signature"


class Attachment(JobRecord):
    """A photo or the customer's signature. The record (what the file will be: type, size,
    SHA-256) syncs first; the file follows through a presigned upload, and is verified
    against the record's size and checksum when the device says it is done."""

    kind = models.CharField(max_length=16, choices=AttachmentKind.choices)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    caption = models.CharField(max_length=200, blank=True)
    # Where the file lives in storage, once it is there and checked.
    storage_key = models.CharField(max_length=300, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
