"""Assigning a job to a crew: the checks a dispatcher's assignment passes, and what it does.

Checks, each naming the technician and the reason:

* **certification** (hard): every crew member holds each certification the job needs,
  valid on the job's date in the site's time zone. No override: an expired gas-safety
  certificate is not a judgement call.
* **skills**, **shift**, **overlap**, **territory**, **time window** (soft): a dispatcher may
  assign anyway with a reason, which is kept with the assignment (``DispatchRecord``).

An assignment replaces the crew (a reassignment revokes the job, and its customer records,
from the previous technicians' devices at their next pull), sets the schedule, moves the job
to scheduled or dispatched, writes the change log, queues a push notification to each
technician who gains or loses the job, and tells the territory's dispatch board, after
commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q

from crm.scope import account_keys
from crm.services import account_rescoped, records
from field_service import states
from field_service.models import (
    Certification,
    CrewMember,
    DispatchRecord,
    State,
    TechnicianCertification,
    TechnicianSkill,
    WorkOrder,
)
from field_service.services.notices import tell_technicians
from field_service.services.work_orders import parse_windows, work_order_transition
from field_service.shifts import covers, working_intervals
from server import realtime
from server.access import Capability, require_capability
from server.enums import Role
from server.errors import ApplicationError
from server.models import User
from server.notifications import reserve_notice_numbers
from sync import changelog
from territories.models import MemberRole
from territories.scope import member_codes


@dataclass(frozen=True)
class Violation:
    code: str
    message: str
    technician: int | None
    overridable: bool = True


def _job_date(work_order: WorkOrder, start: dt.datetime) -> dt.date:
    return start.astimezone(ZoneInfo(work_order.site.time_zone)).date()


def _certifications(work_order: WorkOrder, crew: list[User], day: dt.date) -> list[Violation]:
    needed = list(work_order.required_certifications)
    if not needed:
        return []
    names = dict(Certification.objects.filter(code__in=needed).values_list("code", "name"))
    violations = []
    for technician in crew:
        held = {
            code: (valid_from, valid_to)
            for code, valid_from, valid_to in TechnicianCertification.objects.filter(
                user=technician, certification__code__in=needed
            )
            .order_by("valid_from")
            .values_list("certification__code", "valid_from", "valid_to")
        }
        for code in needed:
            name = names.get(code, code)
            if code not in held:
                violations.append(
                    Violation(
                        "certification_missing",
                        f"{technician} has no {name} certification ({code}).",
                        technician.pk,
                        overridable=False,
                    )
                )
                continue
            valid_from, valid_to = held[code]
            if valid_to is not None and valid_to < day:
                violations.append(
                    Violation(
                        "certification_expired",
                        f"{technician}'s {name} certification ({code}) expired on "
                        f"{valid_to.isoformat()}, before the job's date {day.isoformat()}.",
                        technician.pk,
                        overridable=False,
                    )
                )
            elif valid_from > day:
                violations.append(
                    Violation(
                        "certification_not_yet_valid",
                        f"{technician}'s {name} certification ({code}) is valid from "
                        f"{valid_from.isoformat()}, after the job's date {day.isoformat()}.",
                        technician.pk,
                        overridable=False,
                    )
                )
    return violations


def _skills(work_order: WorkOrder, crew: list[User]) -> list[Violation]:
    needed: dict[str, int] = dict(work_order.required_skills)
    if not needed:
        return []
    best: dict[str, int] = {}
    for code, level in TechnicianSkill.objects.filter(
        user__in=crew, skill__code__in=needed
    ).values_list("skill__code", "level"):
        best[code] = max(best.get(code, 0), level)
    return [
        Violation(
            "skill_missing",
            f"No one on the crew has {code} at level {level} (best: {best.get(code, 0)}).",
            None,
        )
        for code, level in sorted(needed.items())
        if best.get(code, 0) < level
    ]


def _shift_and_overlap(
    work_order: WorkOrder, crew: list[User], start: dt.datetime, end: dt.datetime
) -> list[Violation]:
    violations = []
    day = _job_date(work_order, start)
    for technician in crew:
        if not covers(working_intervals(technician.pk, day, work_order.site.time_zone), start, end):
            violations.append(
                Violation(
                    "outside_shift",
                    f"{technician} does not work from {start:%H:%M} to {end:%H:%M} "
                    f"on {day.isoformat()}.",
                    technician.pk,
                )
            )
        clash = (
            WorkOrder.objects.filter(
                members__technician=technician,
                state__in=states.ASSIGNED,
                scheduled_start__lt=end,
                scheduled_end__gt=start,
            )
            .exclude(pk=work_order.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if clash is not None:
            violations.append(
                Violation(
                    "overlap",
                    f"{technician} already has job {clash} at that time.",
                    technician.pk,
                )
            )
    return violations


def _territory(work_order: WorkOrder, crew: list[User], day: dt.date) -> list[Violation]:
    """Each technician works in the job's territory on the job's day."""
    if not work_order.territory:
        return []
    return [
        Violation(
            "outside_territory",
            f"{technician} does not work in territory {work_order.territory}.",
            technician.pk,
        )
        for technician in crew
        if work_order.territory
        not in member_codes(technician.pk, [MemberRole.TECHNICIAN], on=day).get(
            MemberRole.TECHNICIAN, set()
        )
    ]


def _time_window(work_order: WorkOrder, start: dt.datetime) -> list[Violation]:
    """The visit starts within one of the customer's windows (a window says when the
    technician may arrive and begin, as the day planner reads it too)."""
    windows = parse_windows(work_order.time_windows)
    if not windows or any(begin <= start <= finish for begin, finish in windows):
        return []
    return [
        Violation(
            "outside_time_window",
            "The visit starts outside every time window the customer gave.",
            None,
        )
    ]


def assignment_violations(
    work_order: WorkOrder, crew: list[User], start: dt.datetime, end: dt.datetime
) -> list[Violation]:
    """Everything wrong with giving ``work_order`` to ``crew`` from ``start`` to ``end``."""
    return [
        *_certifications(work_order, crew, _job_date(work_order, start)),
        *_skills(work_order, crew),
        *_shift_and_overlap(work_order, crew, start, end),
        *_territory(work_order, crew, _job_date(work_order, start)),
        *_time_window(work_order, start),
    ]


def _crew(technicians: list[User], lead: User) -> list[User]:
    if not technicians:
        raise ApplicationError(
            "invalid", "Name at least one technician.", fields={"technicians": ["Required."]}
        )
    if len({t.pk for t in technicians}) != len(technicians):
        raise ApplicationError(
            "invalid", "A technician is named twice.", fields={"technicians": ["Duplicate."]}
        )
    if lead.pk not in {t.pk for t in technicians}:
        raise ApplicationError(
            "invalid", "The lead must be on the crew.", fields={"lead": ["Not on the crew."]}
        )
    for technician in technicians:
        if not technician.is_active or Role.TECHNICIAN not in technician.role_set:
            raise ApplicationError(
                "invalid",
                f"{technician} is not an active technician.",
                fields={"technicians": [f"{technician.pk} is not a technician."]},
            )
    return technicians


# A job being worked on is not taken from its crew; a finished one is never reassigned.
ASSIGNABLE = frozenset({State.NEW, State.SCHEDULED, State.DISPATCHED, State.ON_HOLD})


@transaction.atomic
def work_order_assign(
    *,
    actor: User,
    work_order: WorkOrder,
    technicians: list[User],
    lead: User,
    start: dt.datetime,
    end: dt.datetime | None = None,
    dispatch: bool = False,
    override_reason: str = "",
) -> WorkOrder:
    """Give a job (loaded for update) to a crew from ``start`` (to ``end``, by default its
    estimated duration later), as scheduled or, with ``dispatch``, dispatched."""
    require_capability(actor, Capability.DISPATCH)
    if work_order.state not in ASSIGNABLE:
        raise ApplicationError(
            "illegal_transition",
            f"A job that is {work_order.state} cannot be assigned.",
            status=409,
            extra={"state": work_order.state, "allowed": states.allowed_from(work_order.state)},
        )
    crew = _crew(technicians, lead)
    end = end or start + dt.timedelta(minutes=work_order.estimated_minutes)
    if end <= start:
        raise ApplicationError(
            "invalid", "The job ends after it starts.", fields={"end": ["Too early."]}
        )
    violations = assignment_violations(work_order, crew, start, end)
    hard = [v for v in violations if not v.overridable]
    if hard:
        raise ApplicationError(
            hard[0].code,
            " ".join(v.message for v in hard),
            status=409,
            extra={"violations": [asdict(v) for v in violations]},
        )
    override_reason = override_reason.strip()
    if violations and not override_reason:
        raise ApplicationError(
            "assignment_conflicts",
            " ".join(v.message for v in violations) + " Give an override_reason to assign anyway.",
            status=409,
            extra={"violations": [asdict(v) for v in violations]},
        )
    # Versions are taken at the end of the block: the change log's counter row is locked
    # from there to the commit only, not while the crew, scopes and notices are written.
    with changelog.deferred():
        account = work_order.account
        account_scope = account_keys(account)
        before = set(
            CrewMember.objects.filter(work_order=work_order).values_list("technician_id", flat=True)
        )
        edit = records.Edit(work_order)
        _replace_crew(work_order, crew, lead)
        work_order.lead = lead
        work_order.scheduled_start, work_order.scheduled_end = start, end
        edit.save(actor=actor)
        account_rescoped(account=account, scope_before=account_scope, actor=actor)
        target = State.DISPATCHED if dispatch else State.SCHEDULED
        if work_order.state != target:  # (assigning a job on hold resumes it)
            work_order_transition(actor=actor, work_order=work_order, to_state=target)
        after = {t.pk for t in crew}
        DispatchRecord.objects.create(
            work_order=work_order,
            actor=actor,
            technicians=sorted(after),
            lead=lead,
            start=start,
            end=end,
            violations=[asdict(v) for v in violations],
            override_reason=override_reason,
        )
        _notify(work_order, gained=after - before, lost=before - after, kept=after & before)
    return work_order


def _replace_crew(work_order: WorkOrder, crew: list[User], lead: User) -> None:
    CrewMember.objects.filter(work_order=work_order).exclude(
        technician__in=[t.pk for t in crew]
    ).delete()
    CrewMember.objects.filter(work_order=work_order).update(is_lead=False)
    existing = set(
        CrewMember.objects.filter(work_order=work_order).values_list("technician_id", flat=True)
    )
    CrewMember.objects.bulk_create(
        [CrewMember(work_order=work_order, technician=t) for t in crew if t.pk not in existing]
    )
    CrewMember.objects.filter(Q(work_order=work_order) & Q(technician=lead)).update(is_lead=True)


def _notify(work_order: WorkOrder, *, gained: set[int], lost: set[int], kept: set[int]) -> None:
    """Queue the technicians' push notifications and tell the dispatch board."""
    reserve_notice_numbers(gained | kept | lost)  # all at once, in one order
    tell_technicians(work_order, gained, "job.assigned", "New job")
    tell_technicians(work_order, kept, "job.rescheduled", "Job rescheduled")
    # A data message only: the app pulls and drops the job.
    tell_technicians(work_order, lost, "job.unassigned", "")
    if work_order.territory:
        realtime.publish_on_commit(
            realtime.dispatch_group(work_order.territory),
            "job.assigned",
            {
                "work_order": work_order.pk,
                "state": work_order.state,
                "crew": sorted(gained | kept),
                "lead": work_order.lead_id,
                "scheduled_start": work_order.scheduled_start.isoformat()
                if work_order.scheduled_start
                else None,
                "scheduled_end": work_order.scheduled_end.isoformat()
                if work_order.scheduled_end
                else None,
            },
        )
