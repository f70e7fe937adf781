"""The dispatch board socket, ``/ws/dispatch/``: who may open it, which territories it
follows, and the events it receives after commit."""

from __future__ import annotations

import datetime as dt

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from field_service.models import TechnicianProfile
from field_service.services import work_order_create
from server.asgi import application
from server.enums import Role
from territories import services as territory_services
from territories.models import Territory
from tests.conftest import device_login
from tests.field_service.conftest import World, at
from tests.territories.test_services import WEST, collection, feature


async def _board(user, device_id: str = "console") -> tuple[WebsocketCommunicator, dict]:
    tokens = await database_sync_to_async(device_login)(APIClient(), user, device_id=device_id)
    communicator = WebsocketCommunicator(application, f"/ws/dispatch/?token={tokens['access']}")
    connected, code = await communicator.connect()
    hello = await communicator.receive_json_from() if connected else {"closed": code}
    return communicator, hello


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db(transaction=True)
async def test_the_board_follows_the_dispatchers_territories_and_hears_jobs_and_locations(
    world: World,
):
    board, hello = await _board(world.dispatcher)
    assert hello == {"type": "hello", "territories": ["W"]}

    # a job is created, then assigned
    job = await database_sync_to_async(world.job)()
    assert (await board.receive_json_from(timeout=5))["type"] == "job.created"

    def assign() -> int:
        return (
            _client(world.dispatcher)
            .post(
                f"/api/v1/work-orders/{job.pk}/assign/",
                {"technicians": [world.tech.pk], "start": at(9).isoformat()},
                format="json",
            )
            .status_code
        )

    assert await database_sync_to_async(assign)() == 200
    events = [await board.receive_json_from(timeout=5) for _ in range(2)]
    assert {e["type"] for e in events} == {"job.changed", "job.assigned"}
    assigned = next(e for e in events if e["type"] == "job.assigned")
    assert (assigned["work_order"], assigned["crew"]) == (job.pk, [world.tech.pk])

    # the technician's handheld reports where it is
    def locate() -> int:
        TechnicianProfile.objects.create(user=world.tech, home_latitude=45.7, home_longitude=4.8)
        return (
            _client(world.tech)
            .post(
                "/api/v1/technicians/me/location/",
                {"latitude": 45.751, "longitude": 4.812, "taken_at": at(8, 55).isoformat()},
                format="json",
            )
            .status_code
        )

    assert await database_sync_to_async(locate)() == 204
    location = await board.receive_json_from(timeout=5)
    assert location["type"] == "technician.location"
    assert (location["technician"], location["latitude"]) == (world.tech.pk, 45.751)
    await board.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_open_board_follows_a_territory_given_to_its_dispatcher(world: World, make_user):
    newcomer = await database_sync_to_async(make_user)(Role.DISPATCHER)
    board, hello = await _board(newcomer)
    assert hello == {"type": "hello", "territories": []}

    def give_territory() -> None:
        territory_services.membership_add(
            actor=world.manager,
            territory=Territory.objects.get(code="W"),
            user=newcomer,
            role="dispatcher",
            valid_from=dt.date(2026, 1, 1),
        )

    await database_sync_to_async(give_territory)()
    assert await board.receive_json_from(timeout=5) == {"type": "territories", "territories": ["W"]}

    await database_sync_to_async(world.job)()  # without reconnecting, it hears the new jobs
    assert (await board.receive_json_from(timeout=5))["type"] == "job.created"
    await board.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_board_of_every_territory_follows_a_newly_activated_map(world: World):
    board, hello = await _board(world.manager)
    assert hello == {"type": "hello", "territories": ["W"]}

    def activate_new_map() -> None:
        model = territory_services.territory_model_create(actor=world.manager, name="2027")
        territory_services.territories_import(
            actor=world.manager, model_id=model.pk, collection=collection(feature("W27", WEST))
        )
        territory_services.territory_model_activate(actor=world.manager, model_id=model.pk)

    await database_sync_to_async(activate_new_map)()
    message = await board.receive_json_from(timeout=5)
    while message["type"] != "territories":  # (the activation moves jobs' sites too)
        message = await board.receive_json_from(timeout=5)
    assert message == {"type": "territories", "territories": ["W27"]}

    job = await database_sync_to_async(work_order_create)(
        actor=world.manager, account=world.account, site=world.site, kind="repair"
    )  # filed under the new map's territory
    event = await board.receive_json_from(timeout=5)
    assert (event["type"], event["work_order"], event["territory"]) == (
        "job.created",
        job.pk,
        "W27",
    )
    await board.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_technician_cannot_open_a_board(world: World):
    _, hello = await _board(world.tech, device_id="handheld")

    assert hello == {"closed": 4403}


@pytest.mark.django_db
def test_an_older_location_fix_changes_nothing(world: World):
    TechnicianProfile.objects.create(user=world.tech, home_latitude=45.7, home_longitude=4.8)
    client = _client(world.tech)
    newer = {"latitude": 45.75, "longitude": 4.81, "taken_at": at(9).isoformat()}
    older = {"latitude": 10.0, "longitude": 10.0, "taken_at": at(8).isoformat()}

    assert client.post("/api/v1/technicians/me/location/", newer, format="json").status_code == 204
    assert client.post("/api/v1/technicians/me/location/", older, format="json").status_code == 204

    profile = TechnicianProfile.objects.get(user=world.tech)
    assert (profile.last_latitude, profile.located_at) == (45.75, at(9))
    bad = client.post("/api/v1/technicians/me/location/", {**newer, "latitude": 120}, format="json")
    assert bad.status_code == 400
