"""A user given a territory is told to pull at once: the socket joined its key groups when it
connected, so only its user group hears of the new keys."""

from __future__ import annotations

import datetime as dt

import pytest
from channels.db import database_sync_to_async

from server.enums import Role
from territories import services
from territories.models import Territory, TerritoryType
from tests.sync.test_poke import _socket
from tests.territories.test_services import WEST, collection, feature


@pytest.mark.django_db(transaction=True)
async def test_a_new_membership_pokes_the_members_devices(rep, make_user):
    manager = await database_sync_to_async(make_user)(Role.SALES_MANAGER)

    def plan() -> Territory:
        TerritoryType.objects.create(code="territory", name="Territory", priority=1)
        model = services.territory_model_create(actor=manager, name="Plan")
        services.territories_import(
            actor=manager, model_id=model.pk, collection=collection(feature("W", WEST))
        )
        return Territory.objects.get(code="W")

    territory = await database_sync_to_async(plan)()
    socket = await _socket(rep, "rep-tablet")

    await database_sync_to_async(services.membership_add)(
        actor=manager, territory=territory, user=rep, role="rep", valid_from=dt.date(2026, 1, 1)
    )

    assert await socket.receive_json_from(timeout=5) == {"type": "sync.poke"}
    await socket.disconnect()
