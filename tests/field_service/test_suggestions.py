"""Suggestions: technicians ranked for a job by the cost of fitting it into their day."""

from __future__ import annotations

from field_service.models import TechnicianProfile, TechnicianSkill, WorkOrder
from field_service.services.dispatch import work_order_assign
from tests.field_service.conftest import JOB_DAY, World, at


def _bases(world: World) -> None:
    # the site is at (4.81, 45.75): tech lives 1 km away, other_tech about 8 km
    TechnicianProfile.objects.create(user=world.tech, home_latitude=45.755, home_longitude=4.815)
    TechnicianProfile.objects.create(
        user=world.other_tech, home_latitude=45.78, home_longitude=4.90
    )


def test_the_nearest_free_technician_comes_first_with_arrival_and_reasons(world: World, client_for):
    _bases(world)
    job = world.job(required_skills={"hvac": 2})
    console = client_for(world.dispatcher)

    response = console.get(
        f"/api/v1/work-orders/{job.pk}/suggestions/", {"date": JOB_DAY.isoformat()}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["candidates"] == 2
    first, second = body["suggestions"]
    assert (first["technician"], second["technician"]) == (world.tech.pk, world.other_tech.pk)
    assert first["feasible"] is True
    assert first["travel_added_s"] < second["travel_added_s"]
    assert any("driving" in reason for reason in first["reasons"])
    assert first["arrival"].startswith("2026-12-01T08:")  # the shift starts at 08:00


def test_a_busy_day_and_missing_skills_count(world: World, client_for):
    _bases(world)
    # tech's morning is full: a long job nearby from 08:00 to 12:00, pinned there
    busy = world.job(estimated_minutes=240)
    work_order_assign(
        actor=world.dispatcher,
        work_order=busy,
        technicians=[world.tech],
        lead=world.tech,
        start=at(8),
    )
    WorkOrder.objects.filter(pk=busy.pk).update(pinned=True)
    job = world.job(time_windows=[{"start": at(8).isoformat(), "end": at(10).isoformat()}])
    console = client_for(world.dispatcher)

    url = f"/api/v1/work-orders/{job.pk}/suggestions/?date={JOB_DAY.isoformat()}"
    ranked = console.get(url).json()["suggestions"]

    assert [s["technician"] for s in ranked] == [world.other_tech.pk]  # tech cannot make 10:00

    TechnicianSkill.objects.filter(user=world.other_tech).update(level=1)
    WorkOrder.objects.filter(pk=job.pk).update(required_skills={"hvac": 3})
    assert console.get(url).json()["suggestions"] == []


def test_only_dispatchers_ask(world: World, client_for):
    _bases(world)
    job = world.job()

    assert (
        client_for(world.tech).get(f"/api/v1/work-orders/{job.pk}/suggestions/").status_code == 403
    )
    bad = client_for(world.dispatcher).get(
        f"/api/v1/work-orders/{job.pk}/suggestions/", {"limit": 0}
    )
    assert bad.status_code == 400


def test_dispatchers_list_technicians_with_what_dispatching_needs(world: World, client_for):
    _bases(world)

    listed = client_for(world.dispatcher).get("/api/v1/technicians/", {"territory": "W"}).json()
    refused = client_for(world.tech).get("/api/v1/technicians/")

    mine = next(t for t in listed if t["id"] == world.tech.pk)
    assert {t["id"] for t in listed} == {world.tech.pk, world.other_tech.pk}
    assert mine["skills"] == {"hvac": 3}
    assert mine["certifications"] == [
        {"code": "gas", "valid_from": "2026-01-01", "valid_to": "2027-12-31"}
    ]
    assert mine["territories"] == ["W"]
    assert len(mine["shifts"]) == 5
    assert mine["home"]["latitude"] == 45.755
    assert refused.status_code == 403
