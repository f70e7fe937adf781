"""Recurring maintenance plans: jobs a horizon ahead, once per occurrence however often the
generation runs, at the site's local time across daylight-saving changes; bad rules refused."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from field_service.models import MaintenancePlan, WorkOrder
from field_service.services.maintenance import maintenance_generate
from tests.factories import AssetFactory
from tests.field_service.conftest import World

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=PARIS)


def _plan(world: World, client, **body):
    return client.post(
        "/api/v1/maintenance-plans/",
        {
            "site": world.site.pk,
            "name": "Boiler service",
            "rrule": "FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
            "starts_at": "2026-01-01T09:00:00+01:00",
            "horizon_days": 70,
            "required_skills": {"hvac": 2},
            **body,
        },
        format="json",
    )


def test_a_plan_makes_each_occurrences_job_once(world: World, client_for):
    console = client_for(world.dispatcher)
    created = _plan(world, console)
    assert created.status_code == 201, created.content
    plan = MaintenancePlan.objects.get()

    first = maintenance_generate(now=NOW)
    again = maintenance_generate(now=NOW + dt.timedelta(hours=1))

    # 24 Nov + 70 days = 2 Feb: 1 Dec, 1 Jan and 1 Feb
    occurrences = [job.plan_occurrence for job in first]
    assert occurrences == [
        dt.datetime(2026, 12, 1, 9, tzinfo=PARIS),
        dt.datetime(2027, 1, 1, 9, tzinfo=PARIS),
        dt.datetime(2027, 2, 1, 9, tzinfo=PARIS),
    ]
    assert again == []
    jobs = WorkOrder.objects.filter(plan=plan)
    assert jobs.count() == 3
    job = jobs.get(plan_occurrence=dt.datetime(2026, 12, 1, 9, tzinfo=PARIS))
    assert (job.kind, job.source, job.required_skills) == (
        "maintenance",
        "recurring_plan",
        {"hvac": 2},
    )
    assert job.time_windows == [
        {"start": "2026-12-01T00:00:00+01:00", "end": "2026-12-02T00:00:00+01:00"}
    ]
    # through the API as well, still nothing twice
    generated = console.post(f"/api/v1/maintenance-plans/{plan.pk}/generate/")
    assert generated.json() == {"created": []}


def test_the_local_time_holds_across_daylight_saving(world: World, client_for):
    _plan(
        world,
        client_for(world.dispatcher),
        rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
        starts_at="2026-03-02T09:00:00+01:00",
    )

    jobs = maintenance_generate(now=dt.datetime(2026, 3, 20, tzinfo=PARIS))

    # 23 March at 09:00 CET is 08:00 UTC; 30 March, after the change, 09:00 CEST is 07:00 UTC
    utc = [
        job.plan_occurrence.astimezone(dt.UTC).strftime("%m-%d %H:%M")
        for job in jobs[:2]
        if job.plan_occurrence is not None
    ]
    assert utc == ["03-23 08:00", "03-30 07:00"]


def test_bad_plans_are_refused_and_write_nothing(world: World, client_for):
    console = client_for(world.dispatcher)
    foreign_asset = AssetFactory.create()

    not_a_rule = _plan(world, console, rrule="EVERY TUESDAY")
    two_rules = _plan(world, console, rrule="DTSTART:20260101T090000\nRRULE:FREQ=DAILY")
    too_often = _plan(world, console, rrule="FREQ=MINUTELY")
    foreign = _plan(world, console, asset=foreign_asset.pk)
    by_a_technician = _plan(world, client_for(world.tech))

    assert [r.status_code for r in (not_a_rule, two_rules, too_often, foreign)] == [400] * 4
    assert by_a_technician.status_code == 403
    assert not MaintenancePlan.objects.exists()
