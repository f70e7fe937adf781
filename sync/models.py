from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from sync.enums import Operation


class Change(models.Model):
    """One write to a tracked model: the change log, which is also the audit trail.

    ``version`` is the sync cursor: it follows commit order (see ``sync.changelog``).
    Sensitive fields appear in ``diff`` as a marker, never with their values.
    """

    version = models.BigIntegerField(db_index=True)
    table = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=8, choices=Operation.choices)
    diff = models.JSONField(default=dict)
    scope_before = models.JSONField(default=list)
    scope_after = models.JSONField(default=list)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    device_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["table", "record_id", "version"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(operation__in=Operation.values), name="change_operation_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(version__gt=0, version__lt=2**53), name="change_version_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version} {self.operation} {self.table}/{self.record_id}"


class ChangeKey(models.Model):
    """One scope key of a change (before or after it), so a pull finds the changes a device's
    keys cover with one indexed range scan."""

    version = models.BigIntegerField()
    key = models.CharField(max_length=64)
    table = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    device_id = models.CharField(max_length=64, blank=True)
    created = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["key", "version"])]

    def __str__(self) -> str:
        return f"{self.version} {self.key} {self.table}/{self.record_id}"


class DeviceCheckpoint(models.Model):
    """The scope keys a device held at a cursor it was handed, so the next pull can tell keys
    gained (back-fill) from keys lost (revoke). With ``resume`` set it is instead a
    continuation token of a paged initial sync: where to resume in snapshot ``version``."""

    device_id = models.CharField(max_length=64)
    version = models.BigIntegerField()
    keys = models.JSONField(default=list)
    resume = models.JSONField(null=True, blank=True)
    # The cursor the device held when the sync that reached ``version`` began: its offline
    # edits pushed with this cursor were made on data at least that new, so only server
    # changes after it can conflict with them.
    base = models.BigIntegerField(null=True, blank=True)
    # A delta page the device must keep pulling from (``has_more``).
    partial = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["device_id", "version"])]

    def __str__(self) -> str:
        return f"{self.device_id}@{self.version}"


class VersionCounter(models.Model):
    """A single row whose value is the last version handed out."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="counter_single_row")]

    def __str__(self) -> str:
        return str(self.value)


class PushReceipt(models.Model):
    """The answer to a push sent with an ``Idempotency-Key``: a replay gets it back and
    applies nothing again."""

    device_id = models.CharField(max_length=64)
    key = models.CharField(max_length=128)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the pushed changes.")
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device_id", "key"], name="push_receipt_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.device_id}:{self.key}"


class RejectedChange(models.Model):
    """A pushed record that broke a domain rule, kept as the device sent it for someone to
    review. A device re-pushes a rejected record at each sync until it is fixed: the open
    rejection is then refreshed, not duplicated. Values a server-wins merge policy overruled
    are kept here too (``code="overruled"``, closed at once: the device has nothing to fix)."""

    device_id = models.CharField(max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rejected_changes"
    )
    table = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=8, choices=Operation.choices)
    data = models.JSONField(default=dict)
    code = models.CharField(max_length=64)
    message = models.TextField()
    fields = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["device_id", "table", "record_id"],
                condition=models.Q(resolved_at__isnull=True),
                name="rejected_change_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.table}/{self.record_id}: {self.code}"
