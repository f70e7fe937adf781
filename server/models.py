from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from server.enums import Role


class User(AbstractUser):
    """A person who signs in. What they may do comes from their roles (``UserRole``)."""

    display_name = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name or self.username

    def cache_roles(self, roles: list[str]) -> None:
        """Set the roles loaded alongside this user (saves ``role_set`` a query)."""
        self._role_set = frozenset(roles)

    @property
    def role_set(self) -> frozenset[str]:
        """The user's roles, loaded once per instance."""
        cached: frozenset[str] | None = getattr(self, "_role_set", None)
        if cached is None:
            if hasattr(self, "_prefetched_objects_cache") and "roles" in (
                self._prefetched_objects_cache
            ):
                cached = frozenset(r.role for r in self.roles.all())
            else:
                cached = frozenset(self.roles.values_list("role", flat=True))
            self._role_set = cached
        return cached


class UserRole(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=32, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="user_role_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.role}"


class OutboxState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """A push notification the domain wants sent (the outbox): written in the same
    transaction as the change that causes it, sent by the worker afterwards, at least once
    (``id`` lets the app drop duplicates)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32)  # job.assigned, job.unassigned, sla.warning, ...
    title = models.CharField(max_length=200, blank=True)
    body = models.CharField(max_length=1000, blank=True)
    data = models.JSONField(default=dict)
    # Notifications with one key collapse on the device (a burst about one job: one alert).
    collapse_key = models.CharField(max_length=100, blank=True)
    state = models.CharField(
        max_length=16, choices=OutboxState.choices, default=OutboxState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} to {self.user_id} ({self.state})"


class DeviceNotice(models.Model):
    """A notice to a user's devices over ``/ws/device/`` (a job assigned, taken away,
    rescheduled), numbered per user so a device that reconnects with the last number it saw
    gets exactly what it missed. Kept a week (``server.notifications.NOTICE_RETENTION``); a
    device further behind is told to pull."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user", "seq"]
        constraints = [models.UniqueConstraint(fields=["user", "seq"], name="one_notice_per_seq")]

    def __str__(self) -> str:
        return f"{self.user_id}#{self.seq} {self.kind}"


class NoticeSequence(models.Model):
    """The last notice number a user was given. Numbering a notice locks this row until the
    transaction commits, which keeps a user's numbers in commit order. A table of its own, so
    the lock holds up only other notices to the same user (never the user's row, which every
    foreign-key check on it needs)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.last_seq}"
