from __future__ import annotations

import datetime as dt

from django.db import transaction

from field_service.models import Skill, TechnicianProfile, TechnicianSkill
from server import realtime
from server.enums import Role
from server.errors import ApplicationError
from server.models import User
from territories.models import MemberRole
from territories.scope import member_codes


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


@transaction.atomic
def technician_locate(
    *, user: User, latitude: float, longitude: float, taken_at: dt.datetime
) -> TechnicianProfile:
    """Record where a technician's device last was. An older fix than the one held (devices
    send late, out of order) changes nothing. The boards of the territories they work in hear
    of it after commit."""
    if Role.TECHNICIAN not in user.role_set:
        raise ApplicationError(
            "permission_denied", "Only technicians report a location.", status=403
        )
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ApplicationError(
            "invalid", "Coordinates out of range.", fields={"latitude": ["Out of range."]}
        )
    profile = TechnicianProfile.objects.select_for_update().filter(user=user).first()
    if profile is None:
        raise ApplicationError("not_found", "This technician has no profile.", status=404)
    if profile.located_at is not None and taken_at <= profile.located_at:
        return profile
    profile.last_latitude, profile.last_longitude, profile.located_at = (
        latitude,
        longitude,
        taken_at,
    )
    profile.save(update_fields=["last_latitude", "last_longitude", "located_at"])
    codes = member_codes(user.pk, [MemberRole.TECHNICIAN]).get(MemberRole.TECHNICIAN, set())
    for code in sorted(codes):
        realtime.publish_on_commit(
            realtime.dispatch_group(code),
            "technician.location",
            {
                "technician": user.pk,
                "latitude": latitude,
                "longitude": longitude,
                "taken_at": taken_at.isoformat(),
            },
        )
    return profile
