"""The demo data: deterministic, and every record valid by the same rules as the services."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from crm.models import Account, Asset, Contact, Site


@pytest.mark.django_db
def test_small_demo_records_pass_full_validation() -> None:
    call_command("seed_demo", "--scale", "small", "--seed", "7", verbosity=0)

    for model in (Account, Site, Contact, Asset):
        records = list(model.objects.all())
        assert records, model
        for record in records:
            record.full_clean()  # the edit path's validation: any record must stay editable
