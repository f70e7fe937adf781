"""The demo data: deterministic, and every record valid by the same rules as the services."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.management import call_command

from crm.models import Account, Asset, Contact, Site
from field_service.models import CrewMember, WorkOrder
from territories.models import Assignment, MemberRole, Membership, ModelState, TerritoryModel


@pytest.mark.django_db
def test_small_demo_records_pass_full_validation() -> None:
    call_command("seed_demo", "--scale", "small", "--seed", "7", verbosity=0)

    for model in (Account, Site, Contact, Asset):
        records = list(model.objects.all())
        assert records, model
        for record in records:
            record.full_clean()  # the edit path's validation: any record must stay editable


@pytest.mark.django_db
def test_the_demo_map_places_each_account_with_its_territorys_owner() -> None:
    call_command("seed_demo", "--scale", "small", "--seed", "7", verbosity=0)

    model = TerritoryModel.objects.get(state=ModelState.ACTIVE)
    owners = {
        m.territory.code: m.user_id
        for m in Membership.objects.filter(role=MemberRole.OWNER).select_related("territory")
    }
    placed = 0
    for account in Account.objects.all():
        primary = Site.objects.filter(account=account, is_primary=True).first()
        if primary is not None and primary.latitude is not None:
            assert account.territory in owners, account
            assert account.owner_id == owners[account.territory]
            placed += 1
    assert placed > 250
    current = Assignment.objects.filter(territory_model=model, valid_to__isnull=True)
    assert current.filter(record_type="account").count() == Account.objects.count()
    assert current.filter(record_type="site").count() == Site.objects.count()
    # The territories tile the region: no geocoded site is left outside or tied.
    assert not current.filter(reason__in=["outside_all", "overlap_tie"]).exists()


@pytest.mark.django_db
def test_the_demo_has_each_technicians_jobs_for_today_and_tomorrow_and_some_waiting() -> None:
    call_command("seed_demo", "--scale", "small", "--seed", "7", verbosity=0)

    jobs = list(WorkOrder.objects.all())
    crews = Counter(CrewMember.objects.values_list("technician__username", flat=True))
    assert crews == {f"tech{n}": 3 for n in range(1, 13)}
    states = Counter(job.state for job in jobs)
    assert set(states) == {"new", "scheduled", "dispatched"}
    for job in jobs:
        job.full_clean()
        assert job.territory  # on a board
    for member in CrewMember.objects.select_related("work_order", "technician"):
        # in the technician's own territory
        assert Membership.objects.filter(
            user=member.technician, territory__code=member.work_order.territory
        ).exists()
