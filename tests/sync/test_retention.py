"""Retention: pruning old sync bookkeeping, and the replacement sync of a device behind it."""

from __future__ import annotations

import datetime as dt

from django.core.management import call_command
from django.utils import timezone

from crm import services
from crm.models import Account
from server.enums import Role
from sync.models import Change, ChangeKey, DeviceCheckpoint, PushReceipt
from sync.retention import prune
from tests.factories import AccountFactory


def _age_changes(days: int) -> None:
    Change.objects.update(created_at=timezone.now() - dt.timedelta(days=days))


def test_a_device_behind_the_window_gets_a_replacement_and_a_recent_one_a_delta(
    device_for, rep, make_user
):
    manager = make_user(Role.SALES_MANAGER)
    account = AccountFactory.create(owner=rep)
    old_tablet, phone = device_for(rep, device_id="old-tablet"), device_for(rep, device_id="phone")
    old_tablet.sync()
    services.account_update(actor=manager, account=account, notes="first")
    phone.sync()
    # the first edit is older than the window; a second one is recent
    _age_changes(days=40)
    services.account_update(actor=manager, account=account, notes="second")

    pruned = prune(retention_days=30)

    assert pruned.horizon > 0 and pruned.change_keys > 0
    assert not ChangeKey.objects.filter(version__lte=pruned.horizon).exists()
    # the phone's cursor is at the horizon: an ordinary delta still works
    for device in (old_tablet, phone):
        device.pull()
        held = device.get("accounts", account.id)
        assert held is not None and held["notes"] == "second"
    assert (old_tablet.replaced, phone.replaced) == (True, False)


def test_prune_keeps_recent_bookkeeping_and_drops_old_receipts(device_for, rep):
    account = AccountFactory.create(owner=rep)
    tablet = device_for(rep, device_id="tablet")
    tablet.sync()
    tablet.update("accounts", account.id, {"notes": "x"})
    tablet.sync()
    PushReceipt.objects.update(created_at=timezone.now() - dt.timedelta(days=31))
    keys_before = ChangeKey.objects.count()

    call_command("sync_prune", "--days", "30")

    assert not PushReceipt.objects.exists()
    assert ChangeKey.objects.count() == keys_before
    assert DeviceCheckpoint.objects.exists()
    assert Account.objects.get(pk=account.pk).notes == "x"
