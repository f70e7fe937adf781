"""SLA clocks on jobs: targets by priority and tier, business hours in the site's time zone,
time on hold not counted, and warnings and breaches raised once with notifications. Expected
instants are worked out by hand in the comments (the clock itself has its oracle tests in
test_sla_clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.models import Account
from field_service.models import (
    ServiceCalendar,
    SlaEvent,
    SlaPolicy,
    SlaTarget,
    State,
    WorkOrder,
    WorkOrderTransition,
)
from field_service.services.sla import clocks, sla_scan
from server.models import Notification
from tests.factories import TierFactory
from tests.field_service.conftest import World, at

TUESDAY, WEDNESDAY = dt.date(2026, 12, 1), dt.date(2026, 12, 2)


@pytest.fixture
def policy(db) -> SlaPolicy:
    calendar = ServiceCalendar.objects.create(
        name="Office",
        hours={str(day): [["08:00", "17:00"]] for day in range(5)},
        holidays=["2026-12-25"],
    )
    policy = SlaPolicy.objects.create(
        name="Standard", calendar=calendar, warn_share=0.5, is_default=True
    )
    SlaTarget.objects.create(
        policy=policy, priority="high", response_minutes=120, resolution_minutes=480
    )
    return policy


def _job(world: World, created: dt.datetime, **data) -> WorkOrder:
    job = world.job(priority="high", **data)
    WorkOrder.objects.filter(pk=job.pk).update(created_at=created)
    WorkOrderTransition.objects.filter(work_order=job).update(at=created)
    job.refresh_from_db()
    return job


def _move(world: World, job: WorkOrder, state: str, when: dt.datetime, reason: str = "") -> None:
    from field_service.models import CrewMember
    from field_service.services.work_orders import work_order_transition

    if not CrewMember.objects.filter(work_order=job).exists():
        CrewMember.objects.create(work_order=job, technician=world.tech, is_lead=True)
    work_order_transition(actor=world.dispatcher, work_order=job, to_state=state, reason=reason)
    WorkOrderTransition.objects.filter(work_order=job, to_state=state).update(at=when)
    job.refresh_from_db()


def _clock(job: WorkOrder, measure: str, now: dt.datetime):
    job = WorkOrder.objects.select_related("sla__calendar", "site", "account").get(pk=job.pk)
    return next(c for c in clocks(job, now) if c.measure == measure)


def test_an_overnight_response_deadline_and_its_warning(world: World, policy):
    # opened Tue 16:00 with 2 business hours to respond: 1 h left on Tuesday (to 17:00),
    # 1 h on Wednesday from 08:00: due Wed 09:00; warned at half, Tue 17:00
    job = _job(world, at(16, 0, TUESDAY))

    response = _clock(job, "response", at(16, 30, TUESDAY))

    assert response.due_at == at(9, 0, WEDNESDAY)
    assert response.warn_at == at(17, 0, TUESDAY)
    assert (response.state, response.elapsed_s) == ("ok", 30 * 60)
    assert _clock(job, "response", at(8, 30, WEDNESDAY)).state == "warning"
    # resolution: 8 business hours: 1 h Tuesday, 7 h Wednesday: Wed 15:00
    assert _clock(job, "resolution", at(8, 30, WEDNESDAY)).due_at == at(15, 0, WEDNESDAY)


def test_time_on_hold_does_not_count(world: World, policy):
    # opened Tue 16:00, on hold 16:30 to Wed 10:00: 30 min used, 90 min left from Wed 10:00
    job = _job(world, at(16, 0, TUESDAY))
    _move(world, job, State.ON_HOLD, at(16, 30, TUESDAY), reason="Waiting for the customer")

    paused = _clock(job, "response", at(9, 0, WEDNESDAY))
    _move(world, job, State.NEW, at(10, 0, WEDNESDAY))
    resumed = _clock(job, "response", at(10, 30, WEDNESDAY))

    assert (paused.state, paused.elapsed_s, paused.due_at) == ("paused", 30 * 60, None)
    assert resumed.due_at == at(11, 30, WEDNESDAY)
    assert resumed.elapsed_s == 60 * 60


def test_the_account_tiers_target_wins_over_the_general_one(world: World, policy):
    gold = TierFactory.create(code="gold")
    Account.objects.filter(pk=world.account.pk).update(tier=gold)
    SlaTarget.objects.create(
        policy=policy, priority="high", tier=gold, response_minutes=60, resolution_minutes=240
    )
    job = _job(world, at(9, 0, TUESDAY))

    response = _clock(job, "response", at(9, 10, TUESDAY))

    assert (response.target_minutes, response.due_at) == (60, at(10, 0, TUESDAY))


def test_warnings_and_breaches_are_raised_once_and_notify_service_managers(world: World, policy):
    job = _job(world, at(16, 0, TUESDAY))

    first = sla_scan(now=at(8, 30, WEDNESDAY))
    again = sla_scan(now=at(8, 45, WEDNESDAY))
    late = sla_scan(now=at(9, 30, WEDNESDAY))

    assert [(e.measure, e.kind, e.due_at) for e in first] == [
        ("response", "warning", at(17, 0, TUESDAY))
    ]
    assert again == []
    assert [(e.measure, e.kind, e.due_at) for e in late] == [
        ("response", "breach", at(9, 0, WEDNESDAY))
    ]
    assert SlaEvent.objects.filter(work_order=job).count() == 2
    pushes = Notification.objects.filter(user=world.manager).order_by("id")
    assert [n.kind for n in pushes] == ["sla.warning", "sla.breach"]
    assert not Notification.objects.filter(user=world.dispatcher).exists()


def test_a_response_met_in_time_raises_nothing(world: World, policy, client_for):
    job = _job(world, at(16, 0, TUESDAY))
    _move(world, job, State.DISPATCHED, at(16, 10, TUESDAY))
    _move(world, job, State.ON_SITE, at(16, 45, TUESDAY))

    assert sla_scan(now=at(9, 30, WEDNESDAY)) == []
    body = client_for(world.dispatcher).get(f"/api/v1/work-orders/{job.pk}/sla/").json()
    assert body["policy"] == "Standard"
    response = next(c for c in body["clocks"] if c["measure"] == "response")
    assert (response["state"], response["elapsed_s"]) == ("met", 45 * 60)
