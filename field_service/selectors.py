"""Reads of work orders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone

from field_service import states
from field_service.day_problem import technicians_of
from field_service.models import (
    CrewMember,
    ShiftPattern,
    State,
    TechnicianCertification,
    TechnicianProfile,
    TechnicianSkill,
    WorkOrder,
)
from field_service.permissions import visible_work_orders
from server.enums import Role
from server.filters import FilterSet, IdFilter, apply_filters
from server.models import User
from territories.models import MemberRole
from territories.scope import member_codes


class WorkOrderFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=State.choices)
    territory = django_filters.CharFilter()
    account = django_filters.CharFilter(field_name="account_id")
    site = django_filters.CharFilter(field_name="site_id")
    technician = IdFilter(method="filter_technician")

    class Meta:
        model = WorkOrder
        fields: list[str] = []

    def filter_technician(
        self, queryset: QuerySet[WorkOrder], name: str, value: int
    ) -> QuerySet[WorkOrder]:
        return queryset.filter(
            pk__in=CrewMember.objects.filter(technician_id=value).values("work_order")
        )


def work_order_list(*, actor: User, filters: Mapping[str, Any]) -> QuerySet[WorkOrder]:
    return apply_filters(WorkOrderFilter, filters, visible_work_orders(actor))


def open_work_orders_by_territory(
    site_codes: Mapping[str, str],
) -> tuple[dict[str, int], dict[str, int]]:
    """Open jobs per territory now, and where their sites would put them (``site_codes``: site
    id -> territory code in a planning map): a realignment preview's workload measure."""
    now: dict[str, int] = {}
    then: dict[str, int] = {}
    for territory, site_id in WorkOrder.objects.filter(state__in=states.OPEN).values_list(
        "territory", "site_id"
    ):
        if territory:
            now[territory] = now.get(territory, 0) + 1
        code = site_codes.get(site_id)
        if code:
            then[code] = then.get(code, 0) + 1
    return now, then


def technician_list(*, territory: str | None) -> list[dict[str, Any]]:
    """Every active technician (of ``territory``, with a technician membership there or
    above) and what dispatching them needs to know, in a handful of queries."""
    users = User.objects.filter(is_active=True, roles__role=Role.TECHNICIAN).order_by("pk")
    if territory is not None:
        users = users.filter(pk__in=technicians_of(territory, timezone.localdate()))
    people = list(users.distinct())
    ids = [u.pk for u in people]
    profiles = {p.user_id: p for p in TechnicianProfile.objects.filter(user_id__in=ids)}
    skills: dict[int, dict[str, int]] = {}
    for user_id, code, level in TechnicianSkill.objects.filter(user_id__in=ids).values_list(
        "user_id", "skill__code", "level"
    ):
        skills.setdefault(user_id, {})[code] = level
    certifications: dict[int, list[dict[str, Any]]] = {}
    for user_id, code, valid_from, valid_to in TechnicianCertification.objects.filter(
        user_id__in=ids
    ).values_list("user_id", "certification__code", "valid_from", "valid_to"):
        certifications.setdefault(user_id, []).append(
            {
                "code": code,
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat() if valid_to else None,
            }
        )
    shifts: dict[int, list[dict[str, Any]]] = {}
    for user_id, weekday, start, end in ShiftPattern.objects.filter(user_id__in=ids).values_list(
        "user_id", "weekday", "start", "end"
    ):
        shifts.setdefault(user_id, []).append(
            {
                "weekday": weekday,
                "start": start.isoformat("minutes"),
                "end": end.isoformat("minutes"),
            }
        )
    territories = {
        user_id: sorted(
            member_codes(user_id, [MemberRole.TECHNICIAN]).get(MemberRole.TECHNICIAN, ())
        )
        for user_id in ids
    }
    out = []
    for user in people:
        profile = profiles.get(user.pk)
        out.append(
            {
                "id": user.pk,
                "name": str(user),
                "home": {
                    "label": profile.home_label,
                    "latitude": profile.home_latitude,
                    "longitude": profile.home_longitude,
                }
                if profile
                else None,
                "location": {
                    "latitude": profile.last_latitude,
                    "longitude": profile.last_longitude,
                    "taken_at": profile.located_at.isoformat(),
                }
                if profile and profile.located_at
                else None,
                "skills": skills.get(user.pk, {}),
                "certifications": certifications.get(user.pk, []),
                "shifts": shifts.get(user.pk, []),
                "territories": territories[user.pk],
            }
        )
    return out
