"""Work orders through REST: creation, the state machine (every move, legal and illegal),
reasons, follow-ups and who may make which move."""

from __future__ import annotations

import pytest
from django.utils import timezone

from field_service import states
from field_service.models import CrewMember, State, WorkOrder, WorkOrderTransition
from sync.models import RejectedChange
from tests.field_service.conftest import World, at

# A path to reach each state from new, through legal moves (with a crew where needed).
PATH_TO: dict[str, list[str]] = {
    State.NEW: [],
    State.SCHEDULED: [State.SCHEDULED],
    State.DISPATCHED: [State.DISPATCHED],
    State.EN_ROUTE: [State.DISPATCHED, State.EN_ROUTE],
    State.ON_SITE: [State.DISPATCHED, State.EN_ROUTE, State.ON_SITE],
    State.COMPLETED: [State.DISPATCHED, State.ON_SITE, State.COMPLETED],
    State.ON_HOLD: [State.ON_HOLD],
    State.CANNOT_COMPLETE: [State.DISPATCHED, State.ON_SITE, State.CANNOT_COMPLETE],
    State.CANCELLED: [State.CANCELLED],
}


def _job_in(world: World, state: str) -> WorkOrder:
    job = world.job()
    # A crew, without moving the job (assigning would schedule it).
    CrewMember.objects.create(work_order=job, technician=world.tech, is_lead=True)
    for step in PATH_TO[state]:
        if job.state == step:
            continue
        response = _move(world, job, step)
        assert response.status_code == 200, (state, step, response.content)
        job.refresh_from_db()
    assert job.state == state
    return job


def _move(world: World, job: WorkOrder, state: str, client=None):
    body = {"state": state, "reason": "Because" if state in states.NEEDS_REASON else ""}
    return (client or world.console).post(
        f"/api/v1/work-orders/{job.pk}/transition/", body, format="json"
    )


@pytest.fixture
def console(world, client_for):
    world.console = client_for(world.dispatcher, device_id="console")
    return world


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s in State.values for t in State.values if s != t],
)
def test_every_move_is_allowed_or_refused_with_the_allowed_ones(console, source, target):
    world = console
    job = _job_in(world, source)
    transitions = WorkOrderTransition.objects.filter(work_order=job).count()

    response = _move(world, job, target)

    job.refresh_from_db()
    if states.is_allowed(source, target):
        assert response.status_code == 200, response.content
        assert job.state == target
        last = WorkOrderTransition.objects.filter(work_order=job).last()
        assert last is not None
        assert (last.from_state, last.to_state) == (source, target)
    else:
        assert response.status_code == 409, response.content
        error = response.json()["error"]
        assert error["code"] == "illegal_transition"
        assert error["allowed"] == states.allowed_from(source)
        assert job.state == source
        assert WorkOrderTransition.objects.filter(work_order=job).count() == transitions


def test_holding_needs_a_reason_and_changes_nothing_without_one(console):
    world = console
    job = world.job()

    response = world.console.post(
        f"/api/v1/work-orders/{job.pk}/transition/", {"state": "on_hold"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"state_reason": ["Say why the job is on hold."]}
    job.refresh_from_db()
    assert job.state == "new"


def test_a_job_that_cannot_be_completed_spawns_a_follow_up(console):
    world = console
    job = _job_in(world, State.CANNOT_COMPLETE)

    follow_up = WorkOrder.objects.get(follow_up_of=job)

    assert follow_up.state == "new"
    assert (follow_up.site_id, follow_up.kind) == (job.site_id, job.kind)
    assert "Because" in follow_up.description


def test_the_crew_makes_field_moves_only_and_others_none(console, client_for):
    world = console
    job = _job_in(world, State.DISPATCHED)
    tech = client_for(world.tech, device_id="tech")
    outsider = client_for(world.other_tech, device_id="other")

    assert _move(world, job, "en_route", client=outsider).status_code == 404  # not theirs
    assert _move(world, job, "cancelled", client=tech).status_code == 403
    en_route = tech.post(
        f"/api/v1/work-orders/{job.pk}/transition/",
        {"state": "en_route", "device_at": "2026-12-01T08:40:00+01:00"},
        format="json",
    )

    assert en_route.status_code == 200
    last = WorkOrderTransition.objects.filter(work_order=job).last()
    assert last is not None
    assert last.actor == world.tech
    assert last.device_at == at(8, 40)
    # the server's own time is kept beside the device's
    assert abs((timezone.now() - last.at).total_seconds()) < 60


def test_a_scheduled_state_needs_a_crew(console):
    world = console
    job = world.job()  # no crew

    response = _move(world, job, "scheduled")

    assert response.status_code == 409
    assert "needs a technician" in response.json()["error"]["message"]


def test_creating_a_job_takes_its_sites_territory_and_checks_its_input(console):
    world = console
    created = world.console.post(
        "/api/v1/work-orders/",
        {
            "site": world.site.pk,
            "kind": "maintenance",
            "priority": "high",
            "required_skills": {"hvac": 2},
            "required_certifications": ["gas"],
            "time_windows": [
                {"start": "2026-12-01T08:00:00+01:00", "end": "2026-12-01T12:00:00+01:00"}
            ],
        },
        format="json",
    )
    unknown_skill = world.console.post(
        "/api/v1/work-orders/",
        {"site": world.site.pk, "kind": "repair", "required_skills": {"welding": 2}},
        format="json",
    )
    backwards = world.console.post(
        "/api/v1/work-orders/",
        {
            "site": world.site.pk,
            "kind": "repair",
            "time_windows": [
                {"start": "2026-12-01T12:00:00+01:00", "end": "2026-12-01T08:00:00+01:00"}
            ],
        },
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["state"], body["territory"], body["account"]) == ("new", "W", world.account.pk)
    assert unknown_skill.status_code == 400
    assert backwards.status_code == 400
    assert WorkOrder.objects.count() == 1


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s in State.values for t in State.values if s != t],
)
def test_every_move_pushed_from_a_device_is_applied_or_rejected_and_kept(
    console, handheld, source, target
):
    world = console
    job = _job_in(world, source)
    device = handheld(world.tech)
    device.sync()

    device.update(
        "work_orders",
        job.pk,
        {"state": target, "state_reason": "Because" if target in states.NEEDS_REASON else ""},
    )
    outcome = device.push()

    job.refresh_from_db()
    legal = states.is_allowed(source, target) and target in states.TECHNICIAN_MOVES
    if legal:
        assert outcome.rejected == {}, outcome.rejections
        assert job.state == target
    else:
        assert outcome.rejected == {"work_orders": [job.pk]}
        assert job.state == source
        kept = RejectedChange.objects.get(record_id=job.pk, resolved_at__isnull=True)
        expected = (
            "illegal_transition" if not states.is_allowed(source, target) else "permission_denied"
        )
        assert kept.code == expected
        assert kept.data["state"] == target
