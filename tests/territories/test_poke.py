"""A user given a territory (or taken off one) is told to pull at once, and their open socket
follows their new scope keys from then on, without reconnecting."""

from __future__ import annotations

import datetime as dt

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from server.enums import Role
from territories import services
from territories.models import Membership, Territory, TerritoryType
from tests.factories import AccountFactory
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
        services.territory_model_activate(actor=manager, model_id=model.pk)
        return Territory.objects.get(code="W")

    territory = await database_sync_to_async(plan)()
    socket = await _socket(rep, "rep-tablet")

    await database_sync_to_async(services.membership_add)(
        actor=manager, territory=territory, user=rep, role="rep", valid_from=dt.date(2026, 1, 1)
    )

    assert await socket.receive_json_from(timeout=5) == {"type": "sync.poke"}

    # the open socket now hears changes to the territory's customers ...
    account = await database_sync_to_async(AccountFactory.create)(territory="W")
    assert await database_sync_to_async(_rename)(manager, account, "Renamed") == 200
    assert await socket.receive_json_from(timeout=5) == {"type": "sync.poke"}

    # ... until the membership ends
    membership = await database_sync_to_async(Membership.objects.get)(user=rep)
    await database_sync_to_async(services.membership_end)(
        actor=manager, membership=membership, valid_to=dt.date(2026, 1, 1)
    )
    assert await socket.receive_json_from(timeout=5) == {"type": "sync.poke"}
    assert await database_sync_to_async(_rename)(manager, account, "Renamed again") == 200
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


def _rename(actor, account, name: str) -> int:
    client = APIClient()
    client.force_authenticate(actor)
    return client.patch(
        f"/api/v1/accounts/{account.id}/", {"name": name}, format="json"
    ).status_code
