"""Technicians: home base, last known location, skills with levels, certifications with
validity dates, and working time (weekly shift patterns plus dated exceptions)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Catalogue(models.Model):
    """An entry of a short list that jobs name by code."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Skill(Catalogue):
    pass


class TechnicianProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="technician_profile"
    )
    home_label = models.CharField(max_length=200, blank=True)
    home_latitude = models.FloatField()
    home_longitude = models.FloatField()
    # How far a day may run past the shift's end, at most.
    max_overtime_minutes = models.PositiveIntegerField(default=60)
    # The last point a device reported, and when it was taken there.
    last_latitude = models.FloatField(null=True, blank=True)
    last_longitude = models.FloatField(null=True, blank=True)
    located_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    home_latitude__gte=-90,
                    home_latitude__lte=90,
                    home_longitude__gte=-180,
                    home_longitude__lte=180,
                ),
                name="technician_home_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.home_label}"


class TechnicianSkill(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skills"
    )
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "skill"], name="technician_skill_unique"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=5), name="skill_level_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.skill_id}={self.level}"


class Certification(Catalogue):
    """A qualification that expires (gas safety, working at height, electrical)."""


class TechnicianCertification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="certifications"
    )
    certification = models.ForeignKey(Certification, on_delete=models.PROTECT, related_name="+")
    valid_from = models.DateField()
    # The last day it is valid; none means it does not expire.
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="certification_dates_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.certification_id} {self.valid_from}..{self.valid_to or ''}"


class ShiftPattern(models.Model):
    """A weekly working period, in the technician's territory's time zone: several per day
    are allowed (a split shift)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shift_patterns"
    )
    weekday = models.PositiveSmallIntegerField(help_text="0 is Monday.")
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        ordering = ["user", "weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="shift_weekday_0_6"),
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="shift_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} day {self.weekday} {self.start}-{self.end}"


class ShiftExceptionKind(models.TextChoices):
    ABSENCE = "absence", "Absence"  # not working (all day, or between start and end)
    EXTRA = "extra", "Extra shift"  # working outside the pattern


class ShiftException(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shift_exceptions"
    )
    date = models.DateField()
    kind = models.CharField(max_length=16, choices=ShiftExceptionKind.choices)
    # Both empty: the whole day.
    start = models.TimeField(null=True, blank=True)
    end = models.TimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["user", "date", "start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__isnull=True, end__isnull=True)
                | Q(start__isnull=False, end__isnull=False, end__gt=models.F("start")),
                name="shift_exception_times",
            ),
            models.CheckConstraint(
                condition=Q(kind="absence") | Q(start__isnull=False),
                name="extra_shift_has_times",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.date} {self.kind}"
