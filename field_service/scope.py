"""Which scope keys a work order carries, which work orders a set of keys covers, and the key
technicians add to the accounts they work at.

A work order carries ``jobs`` (service managers see every job), ``tech:<user>`` for each
technician on its crew, ``dispatch:<code>`` for its territory's dispatchers, and its account's
``owner:<user>`` and ``territory:<code>`` (sales see the jobs of their customers). An account
carries ``tech:<user>`` for each technician on the crew of one of its work orders, so the
account, its sites, assets and contacts travel to the technician's device with the job and
leave it when the technician is taken off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from crm.models import Account
from field_service.models import CrewMember, WorkOrder
from server.access import WORK_ORDERS_KEY, owner_key, technician_key
from territories.scope import DISPATCH_PREFIX, dispatch_key, territory_key


def work_order_keys(work_order: WorkOrder) -> frozenset[str]:
    keys = {WORK_ORDERS_KEY}
    keys.update(
        technician_key(technician)
        for technician in CrewMember.objects.filter(work_order=work_order).values_list(
            "technician_id", flat=True
        )
    )
    if work_order.territory:
        keys.add(dispatch_key(work_order.territory))
    account = work_order.account
    if account.owner_id is not None:
        keys.add(owner_key(account.owner_id))
    if account.territory:
        keys.add(territory_key(account.territory))
    return frozenset(keys)


def _values(keys: Iterable[str]) -> dict[str, list[str]]:
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        prefix, _, value = key.partition(":")
        if value:
            by_prefix[prefix].append(value)
    return by_prefix


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


def work_orders_covered_by(keys: frozenset[str]) -> Q:
    """A filter on ``WorkOrder`` for the jobs ``keys`` cover; an empty ``Q()`` (falsy) means
    all of them."""
    if WORK_ORDERS_KEY in keys:
        return Q()
    by_prefix = _values(keys)
    condition = Q(pk__in=[])
    if technicians := _ids(by_prefix["tech"]):
        condition |= Q(
            pk__in=CrewMember.objects.filter(technician_id__in=technicians).values("work_order")
        )
    if by_prefix[DISPATCH_PREFIX]:
        condition |= Q(territory__in=by_prefix[DISPATCH_PREFIX])
    if owners := _ids(by_prefix["owner"]):
        condition |= Q(account__owner_id__in=owners)
    if by_prefix["territory"]:
        condition |= Q(account__territory__in=by_prefix["territory"])
    return condition


def account_technician_keys(account: Account) -> list[str]:
    """``tech:<user>`` for every technician on the crew of one of the account's jobs."""
    return [
        technician_key(technician)
        for technician in CrewMember.objects.filter(work_order__account=account)
        .values_list("technician_id", flat=True)
        .distinct()
    ]


def accounts_of_technicians(values: list[str]) -> Q:
    return Q(
        pk__in=CrewMember.objects.filter(technician_id__in=_ids(values)).values(
            "work_order__account_id"
        )
    )


def job_record_keys(record: Any) -> frozenset[str]:
    """A job's records (visits, time, parts, answers, notes) carry their job's keys."""
    return work_order_keys(record.work_order)


def job_records_covered_by(keys: frozenset[str]) -> Q:
    condition = work_orders_covered_by(keys)
    if not condition:
        return condition
    return Q(work_order__in=WorkOrder.objects.filter(condition).values("pk"))
