"""Technicians' home bases and skills. Work orders, shifts and dispatch arrive with the field
service issue; the demo data already gives technicians a base and skills."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Skill(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class TechnicianProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="technician_profile"
    )
    home_label = models.CharField(max_length=200, blank=True)
    home_latitude = models.FloatField()
    home_longitude = models.FloatField()

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
