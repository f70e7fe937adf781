"""Assigning jobs: the checks, overrides and their audit, what an assignment sends, and a
reassignment's revocation and a technician's offline moves through sync."""

from __future__ import annotations

import datetime as dt

from field_service.models import (
    CrewMember,
    DispatchRecord,
    TechnicianCertification,
    WorkOrder,
)
from server.enums import Role
from server.models import DeviceNotice, Notification
from sync.models import Change, RejectedChange
from tests.field_service.conftest import World, at


def _assign(client, job: WorkOrder, *technicians, **extra):
    body = {"technicians": [t.pk for t in technicians], "start": at(9).isoformat(), **extra}
    return client.post(f"/api/v1/work-orders/{job.pk}/assign/", body, format="json")


def test_an_expired_certification_is_refused_by_name_and_nothing_is_written(
    world: World, client_for
):
    job = world.job(required_certifications=["gas"])
    TechnicianCertification.objects.filter(user=world.tech).update(valid_to=dt.date(2026, 11, 30))
    console = client_for(world.dispatcher)

    response = _assign(console, job, world.tech, override_reason="Urgent, I know")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "certification_expired"
    assert "Gas safety certification (gas) expired on 2026-11-30" in error["message"]
    job.refresh_from_db()
    assert job.state == "new"
    assert not CrewMember.objects.exists()
    assert not DispatchRecord.objects.exists()
    assert not Notification.objects.exists()


def test_soft_conflicts_need_a_reason_which_is_kept(world: World, client_for):
    job = world.job()
    console = client_for(world.dispatcher)
    evening = {"start": at(19).isoformat()}

    refused = _assign(console, job, world.tech, **evening)
    overridden = _assign(
        console, job, world.tech, **evening, override_reason="Customer only free then"
    )

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "assignment_conflicts"
    assert [v["code"] for v in refused.json()["error"]["violations"]] == ["outside_shift"]
    assert overridden.status_code == 200, overridden.content
    record = DispatchRecord.objects.get()
    assert record.override_reason == "Customer only free then"
    assert [v["code"] for v in record.violations] == ["outside_shift"]
    assert record.actor == world.dispatcher


def test_skills_territory_and_overlaps_are_checked(world: World, client_for, make_user):
    from server.enums import Role

    console = client_for(world.dispatcher)
    first = world.job()
    assert _assign(console, first, world.tech).status_code == 200
    second = world.job(required_skills={"hvac": 4})
    stranger = make_user(Role.TECHNICIAN)

    overlapping = _assign(console, second, world.tech)
    outsider = _assign(console, world.job(), stranger)

    codes = [v["code"] for v in overlapping.json()["error"]["violations"]]
    assert codes == ["skill_missing", "overlap"]
    assert "outside_territory" in [v["code"] for v in outsider.json()["error"]["violations"]]


def test_an_assignment_schedules_and_queues_a_push_per_technician(world: World, client_for):
    # (what the dispatch board hears is in test_dispatch_board)
    job = world.job()
    console = client_for(world.dispatcher)

    response = _assign(
        console, job, world.tech, world.other_tech, lead=world.other_tech.pk, dispatch=True
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "dispatched"
    assert body["lead"] == world.other_tech.pk
    assert {m["technician"] for m in body["crew"]} == {world.tech.pk, world.other_tech.pk}
    pushes = Notification.objects.order_by("user_id")
    assert [(n.user_id, n.kind, n.collapse_key) for n in pushes] == [
        (world.tech.pk, "job.assigned", f"job-{job.pk}"),
        (world.other_tech.pk, "job.assigned", f"job-{job.pk}"),
    ]


def test_cancelling_an_assigned_job_tells_its_crew(world: World, client_for):
    job = world.job()
    console = client_for(world.dispatcher)
    assert _assign(console, job, world.tech, world.other_tech).status_code == 200

    response = console.post(
        f"/api/v1/work-orders/{job.pk}/transition/",
        {"state": "cancelled", "reason": "Customer called it off"},
        format="json",
    )

    assert response.status_code == 200, response.content
    cancelled = Notification.objects.filter(kind="job.cancelled").order_by("user_id")
    assert [(n.user_id, n.title, n.collapse_key) for n in cancelled] == [
        (world.tech.pk, "Job cancelled", f"job-{job.pk}"),
        (world.other_tech.pk, "Job cancelled", f"job-{job.pk}"),
    ]
    notices = DeviceNotice.objects.filter(kind="job.cancelled").order_by("user_id")
    assert [(n.user_id, n.seq) for n in notices] == [(world.tech.pk, 2), (world.other_tech.pk, 2)]


def test_a_dispatcher_cannot_create_a_job_outside_their_territories(
    world: World, client_for, make_user
):
    console = client_for(make_user(Role.DISPATCHER))  # dispatches nothing yet
    before = (WorkOrder.objects.count(), Change.objects.count())

    response = console.post(
        "/api/v1/work-orders/", {"site": world.site.pk, "kind": "repair"}, format="json"
    )

    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert error["message"] == "The site is in territory W, whose jobs you do not dispatch."
    assert (WorkOrder.objects.count(), Change.objects.count()) == before


def test_reassignment_moves_the_job_and_its_customer_between_devices(
    world: World, client_for, handheld
):
    job = world.job()
    console = client_for(world.dispatcher)
    assert _assign(console, job, world.tech).status_code == 200
    first, second = (
        handheld(world.tech, device_id="first"),
        handheld(world.other_tech, device_id="second"),
    )
    first.sync()
    second.sync()
    assert first.get("work_orders", job.pk) is not None
    assert first.get("accounts", world.account.pk) is not None
    assert first.get("sites", world.site.pk) is not None
    assert second.get("work_orders", job.pk) is None

    assert _assign(console, job, world.other_tech).status_code == 200
    first.sync()
    second.sync()

    assert first.get("work_orders", job.pk) is None
    assert first.get("accounts", world.account.pk) is None
    assert first.get("sites", world.site.pk) is None
    assert second.get("work_orders", job.pk)["crew_ids"] == f'["{world.other_tech.pk}"]'
    assert second.get("sites", world.site.pk) is not None
    assert Notification.objects.filter(user=world.tech, kind="job.unassigned").exists()


def test_offline_moves_apply_and_an_illegal_one_is_rejected_and_kept(
    world: World, client_for, handheld
):
    job = world.job()
    console = client_for(world.dispatcher)
    assert _assign(console, job, world.tech, dispatch=True).status_code == 200
    device = handheld(world.tech)
    device.sync()

    # on the road, the technician sets off: it applies, with the device's time kept
    set_off = dt.datetime(2026, 12, 1, 7, 40, tzinfo=dt.UTC)
    device.update(
        "work_orders",
        job.pk,
        {"state": "en_route", "state_changed_at": int(set_off.timestamp() * 1000)},
    )
    assert device.sync().rejected == {}
    job.refresh_from_db()
    assert job.state == "en_route"
    assert job.transitions.last().device_at == set_off

    # the dispatcher cancels while the technician, offline, arrives on site
    cancelled = console.post(
        f"/api/v1/work-orders/{job.pk}/transition/",
        {"state": "cancelled", "reason": "Customer called off"},
        format="json",
    )
    assert cancelled.status_code == 200
    device.update("work_orders", job.pk, {"state": "on_site"})
    outcome = device.push()

    assert outcome.rejected == {"work_orders": [job.pk]}
    job.refresh_from_db()
    assert job.state == "cancelled"
    kept = RejectedChange.objects.get(record_id=job.pk)
    assert kept.code == "illegal_transition"
    assert kept.data["state"] == "on_site"


def test_an_open_job_follows_its_site_into_another_territory(world: World):
    from crm import services as crm_services
    from territories import services as territory_services
    from territories.models import TerritoryModel
    from tests.territories.test_services import collection, feature, square

    open_job, done_job = world.job(), world.job()
    WorkOrder.objects.filter(pk=done_job.pk).update(state="cancelled")
    active = TerritoryModel.objects.get(state="active")
    plan = territory_services.territory_model_clone(actor=world.manager, source=active, name="2027")
    # the new map gives the site's area (lng 4.81) to E and moves W west
    territory_services.territories_import(
        actor=world.manager,
        model_id=plan.pk,
        collection=collection(
            feature("W", square(4.70, 45.74)), feature("E", square(4.80, 45.74, 0.10))
        ),
    )

    territory_services.territory_model_activate(actor=world.manager, model_id=plan.pk)

    open_job.refresh_from_db()
    done_job.refresh_from_db()
    assert open_job.territory == "E"
    assert done_job.territory == "W"  # finished jobs keep the territory they were done in

    # and a site moved into W takes its open jobs along
    crm_services.site_update(actor=world.manager, site=world.site, longitude=4.72)

    open_job.refresh_from_db()
    assert open_job.territory == "W"


def test_a_realignment_preview_counts_the_open_jobs_each_territory_gains_or_loses(world: World):
    from territories import services as territory_services
    from territories.models import TerritoryModel
    from tests.territories.test_services import collection, feature, square

    world.job()
    cancelled = world.job()
    WorkOrder.objects.filter(pk=cancelled.pk).update(state="cancelled")
    active = TerritoryModel.objects.get(state="active")
    plan = territory_services.territory_model_clone(actor=world.manager, source=active, name="2027")
    territory_services.territories_import(
        actor=world.manager,
        model_id=plan.pk,
        collection=collection(
            feature("W", square(4.70, 45.74)), feature("E", square(4.80, 45.74, 0.10))
        ),
    )

    preview = territory_services.realignment_preview(actor=world.manager, model_id=plan.pk)

    jobs = {t["code"]: t["open_work_orders"] for t in preview["territories"]}
    assert jobs["W"] == {"before": 1, "after": 0, "delta": -1}
    assert jobs["E"] == {"before": 0, "after": 1, "delta": 1}
    assert preview["coefficient_of_variation"]["open_work_orders"]["after"] == 1.0


def test_a_window_bounds_the_start_and_territory_counts_on_the_jobs_day(world: World, client_for):
    from territories.models import Membership

    job = world.job(time_windows=[{"start": at(8).isoformat(), "end": at(9).isoformat()}])
    # the technician joins the territory only from the job's day
    Membership.objects.filter(user=world.tech).update(valid_from=at(0).date())
    console = client_for(world.dispatcher)

    # starts at 08:45, within the window, and ends after it: that is what a window means
    response = _assign(console, job, world.tech, start=at(8, 45).isoformat())

    assert response.status_code == 200, response.content
