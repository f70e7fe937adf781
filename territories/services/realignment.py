"""Realignment: assign against a planning model, preview the difference from the active one,
then activate it atomically. And manual overrides, which survive realignment."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Account, Site
from server import realtime
from server.access import Capability, require_capability
from server.errors import ApplicationError
from server.models import User
from sync.selectors import changed_since, current_version
from territories import hooks
from territories.models import (
    Assignment,
    Membership,
    ModelState,
    Override,
    RecordType,
    Territory,
    TerritoryModel,
)
from territories.progress import SILENT, Progress
from territories.services import assignment
from territories.services.maps import lock_planning, members_rescoped, planning_model


def territory_model_assign(
    *, actor: User | None, model_id: int, progress: Progress = SILENT
) -> dict[str, Any]:
    """Assign every site and account in a model (planning or active) and record it."""
    if actor is not None:
        require_capability(actor, Capability.TERRITORY_MANAGE)
    model = current_model(model_id)
    outcome, started = _compute(model, progress)
    progress.stage("recording")
    with transaction.atomic():
        model = current_model(model_id, lock=True)
        outcome = _recheck(model, outcome, started)
        changed = assignment.record(model, outcome)
        moved = 0
        if model.state == ModelState.ACTIVE:
            moved = assignment.apply_to_accounts(model, outcome, actor=actor)
            hooks.sites_reassigned(None, actor)
    return {"changed": changed, "accounts_moved": moved, "accounts": outcome.counts()}


def current_model(model_id: int, *, lock: bool = False) -> TerritoryModel:
    """A planning or active model (locked when asked), or a 404."""
    models = TerritoryModel.objects.select_for_update() if lock else TerritoryModel.objects
    model = models.filter(pk=model_id).first()
    if model is None or model.state == ModelState.ARCHIVED:
        raise ApplicationError("not_found", f"No current territory model {model_id}.", status=404)
    return model


# What an assignment reads: a change to any of them since it read makes it stale.
_INPUTS = (Site, Account)


def _compute(
    model: TerritoryModel, progress: Progress
) -> tuple[assignment.Outcome, tuple[int, str, dt.datetime]]:
    """``model``'s assignment, computed outside any transaction (the long part, reporting
    progress), and what it was computed from: the change-log cursor, the model's revision
    and the time."""
    started = (current_version(), model.revision, timezone.now())
    return assignment.compute(model, progress), started


def _recheck(
    model: TerritoryModel, outcome: assignment.Outcome, started: tuple[int, str, dt.datetime]
) -> assignment.Outcome:
    """(Inside the writing transaction, ``model`` locked.) ``outcome`` if nothing it was
    computed from has changed since; otherwise computed again, here."""
    version, revision, at = started
    stale = (
        model.revision != revision
        or changed_since(version, _INPUTS)
        or Override.objects.filter(Q(created_at__gte=at) | Q(removed_at__gte=at)).exists()
    )
    return assignment.compute(model) if stale else outcome


def _cv(values: list[float]) -> float | None:
    """Coefficient of variation (population standard deviation over the mean)."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if mean else None


SAMPLE = 1000  # ids listed per kind of move; the counts are complete


def realignment_preview(
    *, actor: User, model_id: int, progress: Progress = SILENT
) -> dict[str, Any]:
    """What activating a planning model would change, computed now from its territories:
    accounts moved, added and unassigned (against each account's territory in the active
    model), and per territory the deltas in accounts, open work orders and pipeline value,
    with the coefficient of variation of each across territories before and after.
    Read-only."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    model = TerritoryModel.objects.filter(pk=model_id, state=ModelState.PLANNING).first()
    if model is None:
        raise ApplicationError("not_found", f"No planning model {model_id}.", status=404)
    outcome = assignment.compute(model, progress)
    _, codes = assignment.index_for(model)
    after = {
        account_id: codes[territory]
        for account_id, (territory, _reason, _cause) in outcome.accounts.items()
        if territory is not None
    }
    progress.stage("comparing", len(outcome.accounts))
    before = outcome.current_codes
    moved = sorted(a for a, code in after.items() if a in before and before[a] != code)
    added = sorted(a for a in after if a not in before)
    unassigned = sorted(a for a in before if a not in after)
    progress.advance(len(outcome.accounts))
    active = assignment.active_model()
    # Accounts land in the innermost territories: those are compared (a region or an area
    # holds none of its own, and would only flatten the spread).
    after_codes = _leaf_codes(model)
    before_codes = _leaf_codes(active) if active else set()
    site_codes = {
        site_id: codes[territory]
        for site_id, (territory, _reason, _cause) in outcome.sites.items()
        if territory is not None
    }
    measures: dict[str, tuple[Mapping[str, float], Mapping[str, float]]] = {
        "accounts": (
            {k: float(v) for k, v in _count(before).items()},
            {k: float(v) for k, v in _count(after).items()},
        ),
        "open_work_orders": ({}, {}),
        "pipeline_value": ({}, {}),  # with the sales issue
    }
    measures.update(hooks.preview_measures(site_codes))
    all_codes = sorted(
        {code for now, then in measures.values() for code in (*now, *then)} | after_codes
    )

    def delta(name: str, code: str) -> dict[str, float]:
        now, then = measures[name]
        return {
            "before": now.get(code, 0),
            "after": then.get(code, 0),
            "delta": then.get(code, 0) - now.get(code, 0),
        }

    def spread(name: str) -> dict[str, float | None]:
        now, then = measures[name]
        return {
            "before": _cv([float(now.get(c, 0)) for c in sorted(before_codes)]),
            "after": _cv([float(then.get(c, 0)) for c in sorted(after_codes)]),
        }

    return {
        "model": model.pk,
        "accounts_moved": len(moved),
        "accounts_added": len(added),
        "accounts_unassigned": len(unassigned),
        "moved": moved[:SAMPLE],
        "added": added[:SAMPLE],
        "unassigned": unassigned[:SAMPLE],
        "territories": [
            {"code": code, **{name: delta(name, code) for name in measures}} for code in all_codes
        ],
        "coefficient_of_variation": {name: spread(name) for name in measures},
    }


def _leaf_codes(model: TerritoryModel) -> set[str]:
    """The codes of the model's territories that have none under them."""
    territories = Territory.objects.filter(territory_model=model)
    return set(territories.filter(children__isnull=True).values_list("code", flat=True))


def _count(assignments: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for code in assignments.values():
        counts[code] = counts.get(code, 0) + 1
    return counts


def territory_model_activate(
    *, actor: User, model_id: int, progress: Progress = SILENT
) -> TerritoryModel:
    """Make a planning model the active one, in one transaction: the old one is archived,
    every site and account is assigned in the new one, and accounts that change territory
    move scope (their old reps' devices delete them at the next pull, the new ones' receive
    them). Any failure leaves the old model active and nothing changed. The assignment is
    computed first, outside the transaction, and again inside it only if its inputs changed
    meanwhile."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    outcome, started = _compute(planning_model(model_id), progress)
    progress.stage("activating")
    with transaction.atomic():
        model = lock_planning(model_id)
        now = timezone.now()
        previous = (
            TerritoryModel.objects.select_for_update().filter(state=ModelState.ACTIVE).first()
        )
        if previous is not None:
            previous.state = ModelState.ARCHIVED
            previous.archived_at = now
            previous.save(update_fields=["state", "archived_at"])
            Assignment.objects.filter(territory_model=previous, valid_to__isnull=True).update(
                valid_to=now
            )
        model.state = ModelState.ACTIVE
        model.activated_at = now
        model.save(update_fields=["state", "activated_at"])
        outcome = _recheck(model, outcome, started)
        assignment.record(model, outcome, now=now)
        assignment.apply_to_accounts(model, outcome, actor=actor)
        hooks.sites_reassigned(None, actor)
        # Members of either map hold other territory keys now, and whoever follows the whole
        # map follows other territories.
        members_rescoped(
            Membership.objects.filter(
                territory__territory_model__in=[m for m in (model, previous) if m is not None]
            ).values_list("user_id", flat=True)
        )
        realtime.publish_on_commit(realtime.ACTIVE_MAP_GROUP, "scope.changed")
    return model


@transaction.atomic
def override_set(
    *, actor: User, record_type: str, record_id: str, territory_code: str, cause: str
) -> Override:
    """Put a site or account in a territory by hand; it holds across model versions. Applied
    to the active model at once, to that record alone."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    if record_type not in RecordType.values:
        raise ApplicationError(
            "invalid", "record_type is site or account.", fields={"record_type": ["Unknown."]}
        )
    if not cause.strip():
        raise ApplicationError("invalid", "Say why.", fields={"cause": ["Required."]})
    record_model = Site if record_type == RecordType.SITE else Account
    if not record_model.objects.filter(pk=record_id, archived_at__isnull=True).exists():
        raise ApplicationError(
            "invalid", f"No {record_type} {record_id!r}.", fields={"record_id": ["Unknown."]}
        )
    active = assignment.active_model()
    if (
        active is None
        or not Territory.objects.filter(territory_model=active, code=territory_code).exists()
    ):
        raise ApplicationError(
            "invalid",
            f"No territory {territory_code!r} in the active model.",
            fields={"territory_code": ["Unknown."]},
        )
    Override.objects.filter(
        record_type=record_type, record_id=record_id, removed_at__isnull=True
    ).update(removed_at=timezone.now())
    override = Override.objects.create(
        record_type=record_type,
        record_id=record_id,
        territory_code=territory_code,
        cause=cause,
        created_by=actor,
    )
    assignment.reassign(active, record_type, record_id, actor)
    return override


@transaction.atomic
def override_remove(*, actor: User, override_id: int) -> Override:
    """End a manual placement: the record goes back to where the rules put it."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    override = (
        Override.objects.select_for_update().filter(pk=override_id, removed_at__isnull=True).first()
    )
    if override is None:
        raise ApplicationError("not_found", f"No current override {override_id}.", status=404)
    override.removed_at = timezone.now()
    override.save(update_fields=["removed_at"])
    active = assignment.active_model()
    if active is not None:
        assignment.reassign(active, override.record_type, override.record_id, actor)
    return override
