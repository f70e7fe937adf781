"""Doing a job offline through sync: check-in (flagged when far from the site), time, parts,
checklist answers and notes; required checklist items block completion; bad records are
rejected one by one and kept; another technician's job is out of reach."""

from __future__ import annotations

import datetime as dt

import pytest

from field_service.models import (
    ChecklistTemplate,
    JobNote,
    Part,
    PartUsage,
    SiteVisit,
    TimeEntry,
)
from field_service.services.dispatch import work_order_assign
from sync.client import SyncError
from sync.models import RejectedChange
from tests.field_service.conftest import World, at


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def on_the_job(world: World, handheld):
    Part.objects.create(sku="VLV-22", name="Valve 22 mm")
    ChecklistTemplate.objects.create(
        kind="repair",
        name="Repair checklist",
        items=[
            {"key": "gas_tight", "label": "Gas-tightness test", "type": "yes_no", "required": True},
            {"key": "pressure", "label": "Pressure (bar)", "type": "number", "required": True},
            {"key": "remarks", "label": "Remarks", "type": "text", "required": False},
        ],
    )
    job = world.job()
    work_order_assign(
        actor=world.dispatcher,
        work_order=job,
        technicians=[world.tech],
        lead=world.tech,
        start=at(9),
        dispatch=True,
    )
    device = handheld(world.tech)
    device.sync()
    return world, job, device


def test_a_day_on_the_job_syncs_up_and_completion_waits_for_the_checklist(on_the_job):
    world, job, device = on_the_job
    part_id = next(iter(device.records("parts")))
    assert device.records("checklist_templates")  # reference data came down

    # offline: check in 2 km from the site, log travel and work, a part, a note, one answer
    device.create(
        "site_visits",
        {
            "work_order_id": job.pk,
            "checked_in_at": _ms(at(9, 5)),
            "check_in_latitude": 45.768,
            "check_in_longitude": 4.81,
        },
    )
    device.create(
        "time_entries",
        {
            "work_order_id": job.pk,
            "kind": "travel",
            "started_at": _ms(at(8, 40)),
            "ended_at": _ms(at(9, 5)),
        },
    )
    device.create(
        "time_entries", {"work_order_id": job.pk, "kind": "work", "started_at": _ms(at(9, 5))}
    )
    device.create("part_usages", {"work_order_id": job.pk, "part_id": part_id, "quantity": "2"})
    device.create("job_notes", {"work_order_id": job.pk, "body": "Valve replaced."})
    device.create(
        "checklist_answers", {"work_order_id": job.pk, "item_key": "gas_tight", "value": "true"}
    )
    device.update("work_orders", job.pk, {"state": "on_site"})
    first = device.sync()
    assert first.rejected == {}, first.rejections

    visit = SiteVisit.objects.get(work_order=job)
    assert visit.far_from_site is True  # flagged, not refused
    assert 1900 < (visit.distance_m or 0) < 2100
    assert TimeEntry.objects.filter(work_order=job).count() == 2
    assert PartUsage.objects.get(work_order=job).quantity == 2
    assert JobNote.objects.get(work_order=job).technician == world.tech

    # completing with the pressure reading missing is rejected, with the reason, and kept
    device.update("work_orders", job.pk, {"state": "completed"})
    outcome = device.sync()
    assert outcome.rejected == {"work_orders": [job.pk]}
    kept = RejectedChange.objects.get(record_id=job.pk, resolved_at__isnull=True)
    assert kept.code == "checklist_incomplete"
    assert "Pressure (bar)" in kept.message

    # answered, it goes through on the next push
    device.create(
        "checklist_answers", {"work_order_id": job.pk, "item_key": "pressure", "value": "1.8"}
    )
    assert device.sync().rejected == {}
    job.refresh_from_db()
    assert job.state == "completed"


def test_bad_records_are_rejected_one_by_one(on_the_job):
    _, job, device = on_the_job
    part_id = next(iter(device.records("parts")))

    zero = device.create(
        "part_usages", {"work_order_id": job.pk, "part_id": part_id, "quantity": "0"}
    )
    unknown_item = device.create(
        "checklist_answers", {"work_order_id": job.pk, "item_key": "colour", "value": '"red"'}
    )
    wrong_type = device.create(
        "checklist_answers", {"work_order_id": job.pk, "item_key": "pressure", "value": '"high"'}
    )
    good = device.create("job_notes", {"work_order_id": job.pk, "body": "Fine."})
    outcome = device.sync()

    assert outcome.rejected == {
        "part_usages": [zero],
        "checklist_answers": sorted([unknown_item, wrong_type]),
    }
    assert JobNote.objects.filter(pk=good).exists()
    assert not PartUsage.objects.exists()


def test_another_technicians_job_is_out_of_reach(on_the_job, handheld):
    world, job, _ = on_the_job
    stranger = handheld(world.other_tech, device_id="stranger")
    stranger.sync()
    assert stranger.get("work_orders", job.pk) is None

    stranger.create("job_notes", {"work_order_id": job.pk, "body": "Not mine."})
    with pytest.raises(SyncError) as refused:
        stranger.push()

    assert refused.value.status == 403
    assert refused.value.body["error"]["code"] == "out_of_scope"
    assert not JobNote.objects.exists()


def test_reassignment_takes_the_jobs_records_off_the_device(on_the_job):
    world, job, device = on_the_job
    device.create("job_notes", {"work_order_id": job.pk, "body": "On my way."})
    device.sync()
    note = JobNote.objects.get().pk

    work_order_assign(
        actor=world.dispatcher,
        work_order=job,
        technicians=[world.other_tech],
        lead=world.other_tech,
        start=at(10),
    )
    device.sync()

    assert device.get("job_notes", note) is None
    assert device.get("work_orders", job.pk) is None
