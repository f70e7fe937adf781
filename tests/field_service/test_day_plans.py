"""Day plans: proposing a territory's day with PyVRP as a task, accepting it whole or in
part through the assignment service, and re-planning a day under way."""

from __future__ import annotations

import datetime as dt

import pytest

from field_service.models import (
    CrewMember,
    DayPlanProposal,
    DispatchRecord,
    TechnicianProfile,
    TechnicianSkill,
    WorkOrder,
)
from tests.field_service.conftest import JOB_DAY, World, at


@pytest.fixture
def day(world: World, client_for, django_capture_on_commit_callbacks):
    """Three jobs in W; both technicians based nearby; a console to plan with."""
    for tech, lng in ((world.tech, 4.80), (world.other_tech, 4.83)):
        TechnicianProfile.objects.create(user=tech, home_latitude=45.76, home_longitude=lng)
    world.console = client_for(world.dispatcher, device_id="console")

    def plan(**body):
        with django_capture_on_commit_callbacks(execute=True):
            started = world.console.post(
                "/api/v1/day-plans/",
                {"territory": "W", "date": JOB_DAY.isoformat(), "time_limit_s": 0.5, **body},
                format="json",
            )
        assert started.status_code == 202, started.content
        return world.console.get(started["Location"]).json()

    world.plan = plan
    return world


def _planned(proposal) -> dict[str, int]:
    return {
        stop["work_order"]: route["technician"]
        for route in proposal["result"]["routes"]
        for stop in route["stops"]
    }


def test_a_plan_respects_skills_certifications_and_pins(day: World):
    TechnicianSkill.objects.filter(user=day.other_tech).update(level=1)
    skilled = day.job(required_skills={"hvac": 3})
    certified = day.job(required_certifications=["gas"])
    anyone = day.job()
    pinned = day.job()
    CrewMember.objects.create(work_order=pinned, technician=day.other_tech, is_lead=True)
    WorkOrder.objects.filter(pk=pinned.pk).update(
        pinned=True, scheduled_start=at(13), scheduled_end=at(14), lead=day.other_tech
    )

    proposal = day.plan()

    assert proposal["state"] == "proposed", proposal
    assert proposal["progress"]["iterations"] > 0
    planned = _planned(proposal)
    assert set(planned) == {skilled.pk, certified.pk, anyone.pk, pinned.pk}
    assert planned[skilled.pk] == day.tech.pk  # the other one has hvac at level 1 only
    assert planned[pinned.pk] == day.other_tech.pk
    pinned_stop = next(
        s for r in proposal["result"]["routes"] for s in r["stops"] if s["work_order"] == pinned.pk
    )
    assert dt.datetime.fromisoformat(pinned_stop["start"]) == at(13)
    # nothing is assigned until the dispatcher accepts
    assert WorkOrder.objects.get(pk=skilled.pk).state == "new"


def test_an_expired_certification_keeps_a_job_from_a_technician(day: World):
    from field_service.models import TechnicianCertification

    TechnicianCertification.objects.filter(user=day.tech).update(
        valid_to=JOB_DAY - dt.timedelta(days=1)
    )
    job = day.job(required_certifications=["gas"])

    proposal = day.plan()

    assert _planned(proposal)[job.pk] == day.other_tech.pk


def test_accepting_in_part_assigns_through_the_assignment_service(day: World):
    first, second, third = day.job(), day.job(), day.job()
    proposal = day.plan()
    # meanwhile the third job is cancelled
    WorkOrder.objects.filter(pk=third.pk).update(state="cancelled")

    accepted = day.console.post(
        f"/api/v1/day-plans/{proposal['id']}/accept/",
        {"work_orders": [first.pk, third.pk], "dispatch": True},
        format="json",
    )

    assert accepted.status_code == 200, accepted.content
    body = accepted.json()
    assert body["assigned"] == [first.pk]
    assert [(f["work_order"], f["code"]) for f in body["failed"]] == [
        (third.pk, "illegal_transition")
    ]
    first.refresh_from_db()
    assert first.state == "dispatched"
    assert first.lead_id == _planned(proposal)[first.pk]
    assert DispatchRecord.objects.filter(work_order=first).exists()
    assert WorkOrder.objects.get(pk=second.pk).state == "new"

    # and the rest later
    rest = day.console.post(
        f"/api/v1/day-plans/{proposal['id']}/accept/", {"work_orders": [second.pk]}, format="json"
    )
    assert rest.json()["assigned"] == [second.pk]
    assert sorted(DayPlanProposal.objects.get().accepted) == sorted([first.pk, second.pk])


def test_only_the_territorys_dispatchers_plan_it(day: World, client_for):
    refused = client_for(day.tech, device_id="handheld").post(
        "/api/v1/day-plans/",
        {"territory": "W", "date": JOB_DAY.isoformat()},
        format="json",
    )
    elsewhere = day.console.post(
        "/api/v1/day-plans/", {"territory": "E", "date": JOB_DAY.isoformat()}, format="json"
    )

    assert refused.status_code == 403
    assert elsewhere.status_code == 403
    assert not DayPlanProposal.objects.exists()


def test_a_replan_keeps_the_job_under_way_and_reports_changed_arrivals(day: World, monkeypatch):
    under_way, waiting = day.job(), day.job()
    proposal = day.plan()
    day.console.post(
        f"/api/v1/day-plans/{proposal['id']}/accept/", {"dispatch": True}, format="json"
    )
    WorkOrder.objects.filter(pk=under_way.pk).update(state="en_route")
    ends = WorkOrder.objects.get(pk=under_way.pk).scheduled_end
    assert ends is not None
    # an urgent job arrives at 10:00
    urgent = day.job(priority="urgent")
    monkeypatch.setattr("django.utils.timezone.now", lambda: at(10))

    replan = day.plan(kind="replan")

    assert replan["state"] == "proposed", replan
    planned = _planned(replan)
    assert under_way.pk not in planned  # being worked on: its lead's day resumes after it
    assert urgent.pk in planned
    starts = {
        s["work_order"]: dt.datetime.fromisoformat(s["start"])
        for r in replan["result"]["routes"]
        for s in r["stops"]
    }
    assert min(starts.values()) >= at(10)
    lead = WorkOrder.objects.get(pk=under_way.pk).lead_id
    leads_stops = [
        dt.datetime.fromisoformat(s["start"])
        for r in replan["result"]["routes"]
        if r["technician"] == lead
        for s in r["stops"]
    ]
    assert all(start >= max(ends, at(10)) for start in leads_stops)
    changed = {c["work_order"] for c in replan["result"]["changed_arrivals"]}
    assert urgent.pk in changed  # it had no time before
    assert waiting.pk in planned


def test_a_job_whose_customer_is_away_that_day_is_left_out(day: World):
    from field_service.day_problem import territory_day

    other_day = at(9, day=JOB_DAY + dt.timedelta(days=1))
    away = day.job(
        time_windows=[
            {"start": other_day.isoformat(), "end": (other_day + dt.timedelta(hours=3)).isoformat()}
        ]
    )

    problem = territory_day("W", JOB_DAY)

    assert problem.skipped == {away.pk: "no_window_that_day"}
    assert away.pk not in {v.id for v in problem.problem.visits}


def test_a_replan_starts_a_technician_between_jobs_where_they_finished(day: World):
    from field_service.day_problem import territory_day

    done, _still_open = day.job(), day.job()
    CrewMember.objects.create(work_order=done, technician=day.tech, is_lead=True)
    WorkOrder.objects.filter(pk=done.pk).update(state="completed", state_changed_at=at(10))

    problem = territory_day("W", JOB_DAY, now=at(10, 30), replan=True)

    shift = next(s for s in problem.problem.shifts if s.technician_id == str(day.tech.pk))
    home = next(s for s in problem.problem.shifts if s.technician_id == str(day.other_tech.pk))
    assert shift.start == (day.site.longitude, day.site.latitude)
    assert shift.window[0] == 10 * 3600 + 30 * 60
    assert home.start == (4.83, 45.76)  # the other one has not worked yet: from home
