"""SLA clocks of jobs, and the warnings and breaches they raise.

A job runs under its policy (the default one unless it names another). Its targets come from
the policy's entry for its priority and its account's tier (or, failing one, for any tier).
Both clocks start when the job is created and count business time only, in the site's time
zone, from the policy's calendar; time on hold does not count. Response is met when a
technician is first on site, resolution when the job is completed; a cancelled job's clocks
stop counting.

``sla_scan`` (``manage.py sla_scan``, every minute from a timer) raises each warning and each
breach once, as an ``SlaEvent``, a push notification to every service manager, and an
``sla.warning`` / ``sla.breach`` event on the territory's dispatch board.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.utils import timezone

from field_service import states
from field_service.models import (
    SlaEvent,
    SlaEventKind,
    SlaMeasure,
    SlaPolicy,
    SlaTarget,
    State,
    WorkOrder,
    WorkOrderTransition,
)
from field_service.sla_clock import END_OF_DAY, BusinessCalendar, Pause, sla_status
from server import realtime
from server.enums import Role
from server.models import User
from server.notifications import notify

# Transitions that meet each measure.
MET_BY = {SlaMeasure.RESPONSE: State.ON_SITE, SlaMeasure.RESOLUTION: State.COMPLETED}


def calendar_of(policy: SlaPolicy, time_zone: str) -> BusinessCalendar:
    hours: dict[int, tuple[tuple[dt.time, dt.time], ...]] = {}
    for day, periods in policy.calendar.hours.items():
        hours[int(day)] = tuple(
            (
                dt.time.fromisoformat(start),
                END_OF_DAY if end in ("24:00", "24:00:00") else dt.time.fromisoformat(end),
            )
            for start, end in periods
        )
    return BusinessCalendar(
        time_zone=time_zone,
        hours=hours,
        holidays=frozenset(dt.date.fromisoformat(day) for day in policy.calendar.holidays),
    )


def target_for(work_order: WorkOrder) -> SlaTarget | None:
    """The policy's target for the job's priority and its account's tier."""
    if work_order.sla_id is None:
        return None
    candidates = [
        t
        for t in SlaTarget.objects.filter(policy_id=work_order.sla_id, priority=work_order.priority)
        if t.tier_id in (None, work_order.account.tier_id)
    ]
    specific = [t for t in candidates if t.tier_id is not None]
    chosen = specific or candidates
    return chosen[0] if chosen else None


def pauses_of(transitions: list[WorkOrderTransition]) -> list[Pause]:
    """The periods on hold, from the job's transitions (the last may still run)."""
    pauses: list[Pause] = []
    held_since: dt.datetime | None = None
    for transition in transitions:
        if transition.to_state == State.ON_HOLD and held_since is None:
            held_since = transition.at
        elif transition.from_state == State.ON_HOLD and transition.to_state != State.ON_HOLD:
            if held_since is not None:
                pauses.append((held_since, transition.at))
            held_since = None
    if held_since is not None:
        pauses.append((held_since, None))
    return pauses


@dataclass(frozen=True)
class Clock:
    measure: str
    target_minutes: int
    state: str  # ok, warning, breached, paused, met, missed, stopped
    elapsed_s: int
    remaining_s: int
    due_at: dt.datetime | None
    warn_at: dt.datetime | None
    met_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "target_minutes": self.target_minutes,
            "state": self.state,
            "elapsed_s": self.elapsed_s,
            "remaining_s": self.remaining_s,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "warn_at": self.warn_at.isoformat() if self.warn_at else None,
            "met_at": self.met_at.isoformat() if self.met_at else None,
        }


def clocks(work_order: WorkOrder, now: dt.datetime) -> list[Clock]:
    """The job's response and resolution clocks at ``now`` (none without a target)."""
    target = target_for(work_order)
    if target is None or work_order.sla is None:
        return []
    transitions = list(work_order.transitions.all())
    calendar = calendar_of(work_order.sla, work_order.site.time_zone)
    pauses = pauses_of(transitions)
    result = []
    for measure, minutes in (
        (SlaMeasure.RESPONSE, target.response_minutes),
        (SlaMeasure.RESOLUTION, target.resolution_minutes),
    ):
        met_at = next((t.at for t in transitions if t.to_state == MET_BY[measure]), None)
        stopped = work_order.state == State.CANCELLED or (
            work_order.state == State.CANNOT_COMPLETE and met_at is None
        )
        until = met_at or (work_order.state_changed_at if stopped else now)
        status = sla_status(
            calendar,
            work_order.created_at,
            minutes * 60,
            until,
            pauses,
            warn_share=work_order.sla.warn_share,
        )
        if met_at is not None:
            state = "met" if status.elapsed_s <= minutes * 60 else "missed"
        elif stopped:
            state = "stopped"
        else:
            state = str(status.state)
        result.append(
            Clock(
                measure=measure,
                target_minutes=minutes,
                state=state,
                elapsed_s=status.elapsed_s,
                remaining_s=status.remaining_s,
                due_at=status.deadline,
                warn_at=status.warn_at,
                met_at=met_at,
            )
        )
    return result


def sla_scan(now: dt.datetime | None = None) -> list[SlaEvent]:
    """Raise the warnings and breaches due by ``now`` that were not raised yet."""
    now = now or timezone.now()
    jobs = (
        WorkOrder.objects.filter(state__in=states.OPEN, sla__isnull=False)
        .select_related("sla__calendar", "site", "account")
        .prefetch_related(
            Prefetch("transitions", queryset=WorkOrderTransition.objects.order_by("at", "id"))
        )
    )
    raised = []
    for job in jobs:
        for clock in clocks(job, now):
            if clock.state in ("warning", "breached") and clock.warn_at is not None:
                raised += _raise(job, clock.measure, SlaEventKind.WARNING, clock.warn_at)
            if clock.state == "breached" and clock.due_at is not None:
                raised += _raise(job, clock.measure, SlaEventKind.BREACH, clock.due_at)
    return raised


def _raise(job: WorkOrder, measure: str, kind: str, due_at: dt.datetime) -> list[SlaEvent]:
    """The event, once: a second scan (or a concurrent one) finds it raised."""
    if SlaEvent.objects.filter(work_order=job, kind=kind, measure=measure).exists():
        return []
    try:
        with transaction.atomic():
            event = SlaEvent.objects.create(
                work_order=job, kind=kind, measure=measure, due_at=due_at
            )
            title = f"SLA {'breached' if kind == SlaEventKind.BREACH else 'at risk'}: {measure}"
            body = f"{job.get_kind_display()} at {job.site.name} ({job.priority})"
            for manager in User.objects.filter(is_active=True, roles__role=Role.SERVICE_MANAGER):
                notify(
                    user_id=manager.pk,
                    kind=f"sla.{kind}",
                    title=title,
                    body=body,
                    data={"work_order": job.pk, "measure": measure, "due_at": due_at.isoformat()},
                    collapse_key=f"sla-{job.pk}",
                )
            if job.territory:
                realtime.publish_on_commit(
                    realtime.dispatch_group(job.territory),
                    f"sla.{kind}",
                    {"work_order": job.pk, "measure": measure, "due_at": due_at.isoformat()},
                )
    except IntegrityError:
        return []
    return [event]
