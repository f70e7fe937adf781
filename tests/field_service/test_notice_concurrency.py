"""Concurrent writes that number notices, on PostgreSQL: they wait for each other, never
deadlock. (SQLite takes one writer at a time, so only the services leg can show this.)

Two orders could cross: two reassignments notifying the same two technicians, and a
technician's own move (which holds the change log's counter row to its commit) beside an
assignment to them. A slowed-down notice widens the window between the locks."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction

import field_service.services.notices as notices
from field_service.models import WorkOrder
from field_service.services import work_order_assign, work_order_transition
from server import notifications
from server.models import DeviceNotice, User
from tests.field_service.conftest import World, at

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _concurrently(*work: Callable[[], None]) -> list[BaseException]:
    """Run each callable in its own thread and connection, started together."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(work))

    def run(job: Callable[[], None]) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def _assign(world: World, job_id: str, crew: list[User], lead: User, start: dt.datetime):
    def assign() -> None:
        with transaction.atomic():
            job = WorkOrder.objects.select_for_update().get(pk=job_id)
            work_order_assign(
                actor=world.dispatcher,
                work_order=job,
                technicians=crew,
                lead=lead,
                start=start,
                override_reason="test",
            )

    return assign


@pytest.fixture
def slow_notices(monkeypatch):
    real = notifications.device_notice

    def slow(**kwargs):
        notice = real(**kwargs)
        time.sleep(0.3)
        return notice

    monkeypatch.setattr(notices, "device_notice", slow)


def test_two_reassignments_to_the_same_two_technicians_both_commit(world: World, slow_notices):
    x, y = world.job(), world.job()
    for job, tech, hour in ((x, world.tech, 9), (y, world.other_tech, 13)):
        _assign(world, job.pk, [tech], tech, at(hour))()
    both = [world.tech, world.other_tech]

    errors = _concurrently(
        # each adds the other technician first, and keeps its own
        _assign(world, x.pk, both, world.tech, at(9)),
        _assign(world, y.pk, both, world.other_tech, at(13)),
    )

    assert errors == []
    for tech in both:  # every number once, in order
        seqs = list(DeviceNotice.objects.filter(user=tech).values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
        assert len(seqs) == 3


def test_a_technicians_move_beside_an_assignment_to_them_both_commit(world: World, slow_notices):
    x, y = world.job(), world.job()
    work_order_assign(
        actor=world.dispatcher,
        work_order=x,
        technicians=[world.tech],
        lead=world.tech,
        start=at(9),
        dispatch=True,
        override_reason="test",
    )

    def technician_moves() -> None:
        time.sleep(0.1)  # once the assignment has numbered its notice
        with transaction.atomic():
            job = WorkOrder.objects.select_for_update().get(pk=x.pk)
            work_order_transition(actor=world.tech, work_order=job, to_state="en_route")
            time.sleep(0.5)  # the rest of the request, with the counter row held

    errors = _concurrently(technician_moves, _assign(world, y.pk, [world.tech], world.tech, at(13)))

    assert errors == []
    assert WorkOrder.objects.get(pk=x.pk).state == "en_route"
    assert WorkOrder.objects.get(pk=y.pk).lead_id == world.tech.pk


def test_racing_reassignments_never_deadlock(world: World):
    x, y = world.job(), world.job()
    both = [world.tech, world.other_tech]
    for day in range(15):
        start = dt.timedelta(days=day)
        _assign(world, x.pk, [world.tech], world.tech, at(9) + start)()
        _assign(world, y.pk, [world.other_tech], world.other_tech, at(13) + start)()

        errors = _concurrently(
            _assign(world, x.pk, both, world.tech, at(9) + start),
            _assign(world, y.pk, both, world.other_tech, at(13) + start),
        )

        assert errors == [], day
