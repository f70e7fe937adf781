"""Numbered notices on the device socket: an assignment reaches the technician's socket
after commit with its number, and a device reconnecting with the last number it saw gets
exactly the notices it missed, then a poke."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from server.asgi import application
from tests.conftest import device_login
from tests.field_service.conftest import World, at


async def _socket(user, *, last_seq: int | None = None) -> tuple[WebsocketCommunicator, dict]:
    tokens = await database_sync_to_async(device_login)(APIClient(), user, device_id="handheld")
    query = f"token={tokens['access']}" + (f"&last_seq={last_seq}" if last_seq is not None else "")
    socket = WebsocketCommunicator(application, f"/ws/device/?{query}")
    connected, _ = await socket.connect()
    assert connected
    return socket, await socket.receive_json_from()


async def _notices(socket: WebsocketCommunicator) -> list[dict]:
    """Every message until the socket is quiet, pokes left out."""
    seen = []
    while not await socket.receive_nothing(timeout=0.3):
        message = await socket.receive_json_from()
        if message["type"] == "notice":
            seen.append(message)
    return seen


def _assign(world: World, job, technician, hour: int) -> int:
    client = APIClient()
    client.force_authenticate(world.dispatcher)
    return client.post(
        f"/api/v1/work-orders/{job.pk}/assign/",
        {"technicians": [technician.pk], "start": at(hour).isoformat()},
        format="json",
    ).status_code


@pytest.mark.django_db(transaction=True)
async def test_a_reconnecting_device_gets_exactly_the_notices_it_missed(world: World):
    jobs = [await database_sync_to_async(world.job)() for _ in range(3)]
    socket, hello = await _socket(world.tech)
    assert hello["seq"] == 0

    # online: the first assignment arrives, numbered
    assert await database_sync_to_async(_assign)(world, jobs[0], world.tech, 9) == 200
    [first] = await _notices(socket)
    assert (first["seq"], first["kind"], first["payload"]["work_order"]) == (
        1, "job.assigned", jobs[0].pk,
    )  # fmt: skip
    await socket.disconnect()

    # offline: two more assignments, and the first job given to someone else
    for job, hour in ((jobs[1], 11), (jobs[2], 14)):
        assert await database_sync_to_async(_assign)(world, job, world.tech, hour) == 200
    assert await database_sync_to_async(_assign)(world, jobs[0], world.other_tech, 9) == 200

    # back online with the last number it saw
    socket, hello = await _socket(world.tech, last_seq=1)
    missed = [hello]
    while not await socket.receive_nothing(timeout=0.3):
        missed.append(await socket.receive_json_from())
    await socket.disconnect()

    assert hello["seq"] == 4
    assert [(m["seq"], m["kind"]) for m in missed[1:-1]] == [
        (2, "job.assigned"),
        (3, "job.assigned"),
        (4, "job.unassigned"),
    ]
    assert missed[-1] == {"type": "sync.poke"}  # and it pulls


@pytest.mark.django_db(transaction=True)
async def test_a_device_too_far_behind_is_told_to_pull(world: World):
    from server.models import DeviceNotice

    job = await database_sync_to_async(world.job)()
    assert await database_sync_to_async(_assign)(world, job, world.tech, 9) == 200
    assert await database_sync_to_async(_assign)(world, job, world.other_tech, 9) == 200
    # the first notice is past retention
    await database_sync_to_async(DeviceNotice.objects.filter(user=world.tech, seq=1).delete)()

    socket, _ = await _socket(world.tech, last_seq=0)
    replayed = await socket.receive_json_from()
    poke = await socket.receive_json_from()
    await socket.disconnect()

    assert (replayed["seq"], replayed["kind"]) == (2, "job.unassigned")
    assert poke == {"type": "sync.poke", "reason": "missed"}
