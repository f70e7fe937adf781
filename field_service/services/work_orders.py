"""Creating work orders and moving them through their states."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import Account, Asset, Site
from crm.services import records
from field_service import states
from field_service.models import (
    WORK_ORDER_INPUT_FIELDS,
    Certification,
    CrewMember,
    MaintenancePlan,
    Priority,
    Skill,
    SlaPolicy,
    Source,
    State,
    WorkOrder,
    WorkOrderKind,
    WorkOrderTransition,
)
from field_service.permissions import visible_work_orders
from field_service.services.execution import missing_checklist_items
from field_service.services.notices import tell_technicians
from server import context, realtime
from server.access import Capability, has_capability, require_capability
from server.errors import ApplicationError
from server.models import User
from sync import changelog
from territories.selectors import site_territory_code, site_territory_codes

WORK_ORDER_FIELDS = frozenset(WORK_ORDER_INPUT_FIELDS)
# What a job needs, carried over to the jobs made from it (a plan's, a follow-up).
NEEDS = ("kind", "priority", "required_skills", "required_certifications", "estimated_minutes")


def needs_of(source: Any) -> dict[str, Any]:
    """``NEEDS`` read from a job or a maintenance plan."""
    return {name: getattr(source, name) for name in NEEDS}


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("invalid", message, fields={field: [message]})


def _check_choices(data: dict[str, Any]) -> None:
    for name, choices in (
        ("kind", WorkOrderKind),
        ("priority", Priority),
        ("source", Source),
    ):
        if name in data and data[name] not in choices.values:
            raise _invalid(name, f"{name} must be one of {', '.join(choices.values)}.")


def _check_skills(skills: Any) -> None:
    if not isinstance(skills, dict) or not all(
        isinstance(code, str) and isinstance(level, int) and 1 <= level <= 5
        for code, level in skills.items()
    ):
        raise _invalid("required_skills", "Map skill codes to a level from 1 to 5.")
    unknown = set(skills) - set(
        Skill.objects.filter(code__in=skills).values_list("code", flat=True)
    )
    if unknown:
        raise _invalid("required_skills", f"Unknown skills: {', '.join(sorted(unknown))}.")


def _check_certifications(codes: Any) -> None:
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        raise _invalid("required_certifications", "A list of certification codes.")
    known = set(Certification.objects.filter(code__in=codes).values_list("code", flat=True))
    if set(codes) - known:
        raise _invalid(
            "required_certifications",
            f"Unknown certifications: {', '.join(sorted(set(codes) - known))}.",
        )


def parse_windows(windows: Any) -> list[tuple[dt.datetime, dt.datetime]]:
    """``[{"start": iso, "end": iso}, ...]`` as aware datetimes, or a 400."""
    if not isinstance(windows, list):
        raise _invalid("time_windows", "A list of {start, end} objects.")
    parsed = []
    for window in windows:
        start = parse_datetime(str(window.get("start", ""))) if isinstance(window, dict) else None
        end = parse_datetime(str(window.get("end", ""))) if isinstance(window, dict) else None
        if start is None or end is None or timezone.is_naive(start) or timezone.is_naive(end):
            raise _invalid("time_windows", "Each window has a start and an end with a time zone.")
        if end <= start:
            raise _invalid("time_windows", "A window ends after it starts.")
        parsed.append((start, end))
    return sorted(parsed)


def validate_fields(data: dict[str, Any]) -> None:
    """Check (and normalise) work order fields, or raise a 400 naming the field."""
    _check_choices(data)
    if "required_skills" in data:
        _check_skills(data["required_skills"])
    if "required_certifications" in data:
        _check_certifications(data["required_certifications"])
    if "time_windows" in data:
        data["time_windows"] = [
            {"start": start.isoformat(), "end": end.isoformat()}
            for start, end in parse_windows(data["time_windows"])
        ]
    minutes = data.get("estimated_minutes")
    if minutes is not None and (not isinstance(minutes, int) or not 1 <= minutes <= 7 * 24 * 60):
        raise _invalid("estimated_minutes", "Minutes, from 1 to a week.")


@transaction.atomic
def work_order_create(
    *,
    actor: User,
    account: Account,
    site: Site,
    asset: Asset | None = None,
    record_id: str | None = None,
    follow_up_of: WorkOrder | None = None,
    **data: Any,
) -> WorkOrder:
    """A new job at one of the account's sites (on one of its assets), in state ``new``, in
    the dispatch territory of its site. A job the actor would not see afterwards (a
    dispatcher's, outside the territories they dispatch) is refused."""
    require_capability(actor, Capability.WORK_ORDER_MANAGE)
    work_order = _create(
        actor=actor,
        account=account,
        site=site,
        asset=asset,
        record_id=record_id,
        follow_up_of=follow_up_of,
        **data,
    )
    if not visible_work_orders(actor).filter(pk=work_order.pk).exists():
        where = f"territory {work_order.territory}" if work_order.territory else "no territory"
        raise ApplicationError(
            "permission_denied",
            f"The site is in {where}, whose jobs you do not dispatch.",
            status=403,
            fields={"site": ["Outside the territories you dispatch."]},
        )
    return work_order


def _create(
    *,
    actor: User | None,
    account: Account,
    site: Site,
    asset: Asset | None,
    record_id: str | None,
    follow_up_of: WorkOrder | None,
    plan: MaintenancePlan | None = None,
    plan_occurrence: dt.datetime | None = None,
    **data: Any,
) -> WorkOrder:
    unknown = set(data) - WORK_ORDER_FIELDS
    if unknown:
        raise ApplicationError(
            "invalid",
            "Unknown fields.",
            fields={name: ["Not a work order field."] for name in sorted(unknown)},
        )
    if site.account_id != account.pk or site.archived_at is not None:
        raise _invalid("site", "The site is not a live site of this account.")
    if asset is not None and (asset.account_id != account.pk or asset.archived_at is not None):
        raise _invalid("asset", "The asset is not a live asset of this account.")
    validate_fields(data)
    work_order = records.with_id(WorkOrder(), record_id)
    records.assign(work_order, data, allowed=WORK_ORDER_FIELDS)
    work_order.account, work_order.site, work_order.asset = account, site, asset
    work_order.follow_up_of = follow_up_of
    work_order.plan, work_order.plan_occurrence = plan, plan_occurrence
    work_order.territory = site_territory_code(site.pk)
    work_order.sla = (
        follow_up_of.sla if follow_up_of else SlaPolicy.objects.filter(is_default=True).first()
    )
    work_order.full_clean()
    work_order.save(force_insert=True)
    WorkOrderTransition.objects.create(
        work_order=work_order,
        from_state=State.NEW,
        to_state=State.NEW,
        actor=actor,
        device_id=context.current().device_id or "",
    )
    changelog.record_create(instance=work_order, actor=actor)
    board_event(work_order, "job.created")
    return work_order


def board_event(work_order: WorkOrder, event: str, *, territory: str | None = None) -> None:
    """Tell the job's territory's dispatch board (after commit)."""
    code = work_order.territory if territory is None else territory
    if not code:
        return
    realtime.publish_on_commit(
        realtime.dispatch_group(code),
        event,
        {
            "work_order": work_order.pk,
            "state": work_order.state,
            "priority": work_order.priority,
            "kind": work_order.kind,
            "site": work_order.site_id,
            "territory": work_order.territory,
        },
    )


def _refuse(work_order: WorkOrder, target: str, message: str) -> ApplicationError:
    return ApplicationError(
        "illegal_transition",
        message,
        status=409,
        extra={"state": work_order.state, "allowed": states.allowed_from(work_order.state)},
    )


def _check_mover(actor: User, work_order: WorkOrder, target: str) -> None:
    """Dispatchers move any job; a technician makes the field moves of a job they are on."""
    if has_capability(actor, Capability.DISPATCH):
        return
    on_crew = CrewMember.objects.filter(work_order=work_order, technician=actor).exists()
    if not (on_crew and target in states.TECHNICIAN_MOVES):
        raise ApplicationError(
            "permission_denied",
            f"Only a dispatcher moves a job to {target}"
            + ("." if on_crew else ", and only its crew moves it in the field."),
            status=403,
        )


@transaction.atomic
def work_order_transition(
    *,
    actor: User,
    work_order: WorkOrder,
    to_state: str,
    reason: str = "",
    device_at: dt.datetime | None = None,
) -> WorkOrder:
    """Move a job (loaded for update) to ``to_state``: an illegal move is a 409 listing the
    allowed ones. The server's time is the transition's; the device's own time, for work
    done offline, is kept beside it. A job that cannot be completed spawns a follow-up."""
    if to_state not in State.values:
        raise _invalid("state", f"state must be one of {', '.join(State.values)}.")
    source = work_order.state
    if not states.is_allowed(source, to_state):
        raise _refuse(
            work_order,
            to_state,
            f"A job cannot go from {source} to {to_state}"
            + (
                f"; from {source} it can go to {', '.join(states.allowed_from(source))}."
                if states.allowed_from(source)
                else f": {source} is final."
            ),
        )
    _check_mover(actor, work_order, to_state)
    reason = reason.strip()
    if to_state in states.NEEDS_REASON and not reason:
        raise _invalid("state_reason", f"Say why the job is {to_state.replace('_', ' ')}.")
    if to_state == State.COMPLETED and (missing := missing_checklist_items(work_order)):
        raise ApplicationError(
            "checklist_incomplete",
            "Answer the required checklist items first: " + ", ".join(missing) + ".",
            status=409,
            extra={"missing": missing},
        )
    if (
        to_state in states.ASSIGNED
        and not CrewMember.objects.filter(work_order=work_order).exists()
    ):
        raise _refuse(work_order, to_state, f"A job needs a technician to be {to_state}.")
    with changelog.deferred():  # the counter row is locked from the block's end only
        now = timezone.now()
        edit = records.Edit(work_order)
        work_order.state = to_state
        work_order.state_reason = reason if to_state in states.NEEDS_REASON else ""
        work_order.state_changed_at = now
        edit.save(actor=actor)
        WorkOrderTransition.objects.create(
            work_order=work_order,
            from_state=source,
            to_state=to_state,
            at=now,
            device_at=device_at,
            reason=reason,
            actor=actor,
            device_id=context.current().device_id or "",
        )
        board_event(work_order, "job.changed")
        if to_state == State.CANCELLED:
            crew = CrewMember.objects.filter(work_order=work_order).exclude(technician=actor)
            tell_technicians(
                work_order,
                crew.values_list("technician_id", flat=True),
                "job.cancelled",
                "Job cancelled",
            )
        if to_state == State.CANNOT_COMPLETE:
            _follow_up(actor, work_order)
    return work_order


def create_generated(**kwargs: Any) -> WorkOrder:
    """A job the system makes (a maintenance plan's occurrence), on behalf of the plan's
    author (``actor`` may be None): no capability check, every other rule applies."""
    kwargs.setdefault("record_id", None)
    kwargs.setdefault("follow_up_of", None)
    return _create(**kwargs)


def _follow_up(actor: User, work_order: WorkOrder) -> WorkOrder:
    """A new job for what could not be done, carrying the first one's needs."""
    return _create(
        actor=actor,
        account=work_order.account,
        site=work_order.site,
        asset=work_order.asset,
        record_id=None,
        follow_up_of=work_order,
        **needs_of(work_order),
        description=f"Follow-up: {work_order.state_reason}\n\n{work_order.description}".strip(),
        source=work_order.source,
    )


@transaction.atomic
def work_orders_follow_sites(site_ids: Collection[str] | None, actor: User | None) -> int:
    """Put each open job at ``site_ids`` (every open job when None) in its site's current
    territory: its dispatchers change with it. Returns how many moved."""
    jobs = WorkOrder.objects.select_for_update().filter(state__in=states.OPEN)
    if site_ids is not None:
        jobs = jobs.filter(site_id__in=list(site_ids))
    jobs_list = list(jobs.select_related("account"))
    codes = site_territory_codes({job.site_id for job in jobs_list})
    moved = 0
    for job in jobs_list:
        code = codes.get(job.site_id, "")
        if job.territory != code:
            previous = job.territory
            edit = records.Edit(job)
            job.territory = code
            edit.save(actor=actor)
            board_event(job, "job.changed", territory=previous)  # it leaves that board
            board_event(job, "job.changed")
            moved += 1
    return moved
