"""Recurring maintenance plans: an RFC 5545 rule per site or asset, generating its jobs a
horizon ahead. Generation is idempotent: each occurrence gets one job, however often it runs
(``manage.py generate_maintenance``, daily from a timer; or ``POST …/generate/``)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Account, Asset, Site
from field_service.models import MaintenancePlan, Source, WorkOrder
from field_service.services.work_orders import (
    NEEDS,
    create_generated,
    needs_of,
    validate_fields,
)
from server.access import Capability, require_capability
from server.errors import ApplicationError
from server.models import User

# What a plan's jobs carry from it (their windows and source come from each occurrence).
PLAN_FIELDS = frozenset({*NEEDS, "description"})
MAX_HORIZON_DAYS = 366
# A rule that would make more jobs than this within a horizon is refused (FREQ=MINUTELY...).
MAX_OCCURRENCES = 400


def _rule(text: str, starts_at: dt.datetime) -> rrule:
    """``text`` (``FREQ=...;...``, optionally after ``RRULE:``) from ``starts_at``."""
    if "\n" in text or "DTSTART" in text.upper():
        raise ApplicationError(
            "invalid",
            "Give the rule alone (FREQ=...); it starts at starts_at.",
            fields={"rrule": ["One rule, without DTSTART."]},
        )
    try:
        rule = rrulestr(text, dtstart=starts_at)
    except (ValueError, TypeError) as error:
        raise ApplicationError(
            "invalid", f"Not a recurrence rule: {error}.", fields={"rrule": ["Not a rule."]}
        ) from None
    if not isinstance(rule, rrule):
        raise ApplicationError("invalid", "One rule only.", fields={"rrule": ["One rule only."]})
    return rule


def occurrences(plan: MaintenancePlan, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The plan's occurrences in [start, end), as aware datetimes (local wall-clock times of
    the site: a 09:00 rule stays 09:00 across daylight-saving changes)."""
    zone = ZoneInfo(plan.site.time_zone)
    local_start = plan.starts_at.astimezone(zone).replace(tzinfo=None)
    rule = _rule(plan.rrule, local_start)
    found = rule.between(
        start.astimezone(zone).replace(tzinfo=None),
        end.astimezone(zone).replace(tzinfo=None),
        inc=True,
    )
    return [moment.replace(tzinfo=zone) for moment in found if moment.replace(tzinfo=zone) < end]


@transaction.atomic
def maintenance_plan_create(
    *,
    actor: User,
    account: Account,
    site: Site,
    asset: Asset | None = None,
    name: str,
    rrule: str,
    starts_at: dt.datetime,
    horizon_days: int = 30,
    **needs: Any,
) -> MaintenancePlan:
    require_capability(actor, Capability.WORK_ORDER_MANAGE)
    if site.account_id != account.pk or site.archived_at is not None:
        raise ApplicationError(
            "invalid",
            "The site is not a live site of this account.",
            fields={"site": ["Not this account's."]},
        )
    if asset is not None and (asset.account_id != account.pk or asset.archived_at is not None):
        raise ApplicationError(
            "invalid",
            "The asset is not a live asset of this account.",
            fields={"asset": ["Not this account's."]},
        )
    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise ApplicationError(
            "invalid",
            f"horizon_days is from 1 to {MAX_HORIZON_DAYS}.",
            fields={"horizon_days": ["Out of range."]},
        )
    unknown = sorted(set(needs) - PLAN_FIELDS)
    if unknown:
        raise ApplicationError(
            "invalid", "Unknown fields.", fields={name: ["Not a plan field."] for name in unknown}
        )
    validate_fields(needs)
    plan = MaintenancePlan(
        account=account,
        site=site,
        asset=asset,
        name=name,
        rrule=rrule.strip(),
        starts_at=starts_at,
        horizon_days=horizon_days,
        created_by=actor,
        **needs,
    )
    window_end = timezone.now() + dt.timedelta(days=horizon_days)
    if len(occurrences(plan, max(timezone.now(), starts_at), window_end)) > MAX_OCCURRENCES:
        raise ApplicationError(
            "invalid",
            f"The rule makes more than {MAX_OCCURRENCES} jobs within the horizon.",
            fields={"rrule": ["Too frequent."]},
        )
    plan.full_clean()
    plan.save()
    return plan


def maintenance_generate(
    *, now: dt.datetime | None = None, plans: list[MaintenancePlan] | None = None
) -> list[WorkOrder]:
    """Create the jobs of every active plan's occurrences from ``now`` to its horizon that do
    not exist yet. Each job in its own transaction: a concurrent run that made it first wins."""
    now = now or timezone.now()
    created: list[WorkOrder] = []
    for plan in (
        plans
        if plans is not None
        else MaintenancePlan.objects.filter(active=True).select_related(
            "site", "account", "asset", "created_by"
        )
    ):
        done = set(WorkOrder.objects.filter(plan=plan).values_list("plan_occurrence", flat=True))
        for moment in occurrences(plan, now, now + dt.timedelta(days=plan.horizon_days)):
            if moment in done:
                continue
            try:
                with transaction.atomic():
                    created.append(_job(plan, moment))
            except IntegrityError:
                continue  # another run made it
    return created


def _job(plan: MaintenancePlan, moment: dt.datetime) -> WorkOrder:
    """The occurrence's job: the customer may be visited any time that day."""
    zone = ZoneInfo(plan.site.time_zone)
    day = moment.astimezone(zone).date()
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    return create_generated(
        actor=plan.created_by,
        account=plan.account,
        site=plan.site,
        asset=plan.asset,
        plan=plan,
        plan_occurrence=moment,
        **needs_of(plan),
        description=(plan.description or plan.name),
        source=Source.RECURRING_PLAN,
        time_windows=[
            {"start": start.isoformat(), "end": (start + dt.timedelta(days=1)).isoformat()}
        ],
    )
