"""A small field-service world: an active map with one territory, a customer site in it, a
dispatcher of that territory and two technicians who work there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from crm import services as crm_services
from crm.models import Account, Site
from field_service.models import (
    Certification,
    ShiftPattern,
    Skill,
    TechnicianCertification,
    TechnicianSkill,
)
from field_service.services.work_orders import work_order_create
from field_service.sync_tables import WORK_ORDERS_ADDED_IN
from server.enums import Role
from server.models import User
from sync.client import SyncClient
from territories import services as territory_services
from territories.models import TerritoryType
from tests.factories import AccountFactory
from tests.sync.conftest import APIClientTransport
from tests.territories.test_services import WEST, collection, feature

PARIS = ZoneInfo("Europe/Paris")
# A Tuesday, well ahead: certifications below are valid then.
JOB_DAY = dt.date(2026, 12, 1)


def at(hour: int, minute: int = 0, day: dt.date = JOB_DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS)


@dataclass
class World:
    manager: User
    dispatcher: User
    tech: User
    other_tech: User
    account: Account
    site: Site
    console: Any = None  # the dispatcher's API client, when a test asks for it
    plan: Any = None  # asks for a day plan through the API (test_day_plans)

    def job(self, **data: Any) -> Any:
        data.setdefault("kind", "repair")
        return work_order_create(
            actor=self.dispatcher, account=self.account, site=self.site, **data
        )


def _technician(make_user: Callable[..., User], territory: Any, manager: User) -> User:
    tech = make_user(Role.TECHNICIAN)
    TechnicianSkill.objects.create(user=tech, skill=Skill.objects.get(code="hvac"), level=3)
    TechnicianCertification.objects.create(
        user=tech,
        certification=Certification.objects.get(code="gas"),
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2027, 12, 31),
    )
    for weekday in range(5):
        ShiftPattern.objects.create(user=tech, weekday=weekday, start=dt.time(8), end=dt.time(17))
    territory_services.membership_add(
        actor=manager,
        territory=territory,
        user=tech,
        role="technician",
        valid_from=dt.date(2026, 1, 1),
    )
    return tech


@pytest.fixture
def world(make_user: Callable[..., User]) -> World:
    manager = make_user(Role.SERVICE_MANAGER)
    TerritoryType.objects.create(code="territory", name="Territory", priority=1)
    model = territory_services.territory_model_create(actor=manager, name="Map")
    territory_services.territories_import(
        actor=manager, model_id=model.pk, collection=collection(feature("W", WEST))
    )
    territory_services.territory_model_activate(actor=manager, model_id=model.pk)
    territory = model.territories.get(code="W")
    Skill.objects.create(code="hvac", name="Heating and cooling")
    Certification.objects.create(code="gas", name="Gas safety")
    dispatcher = make_user(Role.DISPATCHER)
    territory_services.membership_add(
        actor=manager,
        territory=territory,
        user=dispatcher,
        role="dispatcher",
        valid_from=dt.date(2026, 1, 1),
    )
    account = AccountFactory.create(owner=None)
    site = crm_services.site_create(
        actor=manager,
        account=account,
        name="Boiler room",
        latitude=45.75,
        longitude=4.81,
        time_zone="Europe/Paris",
    )
    return World(
        manager=manager,
        dispatcher=dispatcher,
        tech=_technician(make_user, territory, manager),
        other_tech=_technician(make_user, territory, manager),
        account=account,
        site=site,
    )


@pytest.fixture
def handheld(client_for: Callable[..., APIClient]) -> Callable[..., SyncClient]:
    """A technician's handheld: the reference sync client on the schema with work orders."""

    def make(user: User, *, device_id: str = "handheld") -> SyncClient:
        return SyncClient(
            APIClientTransport(client_for(user, device_id=device_id)),
            schema_version=WORK_ORDERS_ADDED_IN,
        )

    return make
