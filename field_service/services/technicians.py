from __future__ import annotations

from django.db import transaction

from field_service.models import Skill, TechnicianProfile, TechnicianSkill
from server.models import User


@transaction.atomic
def technician_profile_set(
    *,
    user: User,
    home_label: str,
    home_latitude: float,
    home_longitude: float,
    skills: dict[str, int],
) -> TechnicianProfile:
    """Set a technician's home base and skills (skill code -> level 1..5)."""
    profile, _ = TechnicianProfile.objects.update_or_create(
        user=user,
        defaults={
            "home_label": home_label,
            "home_latitude": home_latitude,
            "home_longitude": home_longitude,
        },
    )
    known = {skill.code: skill for skill in Skill.objects.filter(code__in=skills)}
    missing = sorted(set(skills) - set(known))
    if missing:
        raise ValueError(f"unknown skills: {', '.join(missing)}")
    TechnicianSkill.objects.filter(user=user).exclude(skill__code__in=skills).delete()
    for code, level in skills.items():
        TechnicianSkill.objects.update_or_create(
            user=user, skill=known[code], defaults={"level": level}
        )
    return profile
