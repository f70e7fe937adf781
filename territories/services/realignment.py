"""Realignment: assign against a planning model, preview the difference from the active one,
then activate it atomically. And manual overrides, which survive realignment."""

from __future__ import annotations

import statistics
from typing import Any

from django.db import transaction
from django.utils import timezone

from server.access import Capability, require_capability
from server.errors import ApplicationError
from server.models import User
from territories.models import (
    Assignment,
    Membership,
    ModelState,
    Override,
    RecordType,
    Territory,
    TerritoryModel,
)
from territories.services import assignment
from territories.services.maps import lock_planning, poke_members


@transaction.atomic
def territory_model_assign(*, actor: User | None, model_id: int) -> dict[str, Any]:
    """Assign every site and account in a model (planning or active) and record it."""
    if actor is not None:
        require_capability(actor, Capability.TERRITORY_MANAGE)
    model = TerritoryModel.objects.select_for_update().filter(pk=model_id).first()
    if model is None or model.state == ModelState.ARCHIVED:
        raise ApplicationError("not_found", f"No current territory model {model_id}.", status=404)
    outcome = assignment.compute(model)
    changed = assignment.record(model, outcome)
    moved = (
        assignment.apply_to_accounts(model, outcome, actor=actor)
        if model.state == ModelState.ACTIVE
        else 0
    )
    return {"changed": changed, "accounts_moved": moved, "accounts": outcome.counts()}


def _current_accounts(model: TerritoryModel | None) -> dict[str, str]:
    """account id -> territory code (accounts without a territory left out)."""
    if model is None:
        return {}
    return dict(
        Assignment.objects.filter(
            territory_model=model,
            record_type=RecordType.ACCOUNT,
            valid_to__isnull=True,
            territory__isnull=False,
        ).values_list("record_id", "territory__code")
    )


def _cv(values: list[float]) -> float | None:
    """Coefficient of variation (population standard deviation over the mean)."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if mean else None


def realignment_preview(*, actor: User, model_id: int) -> dict[str, Any]:
    """What activating a planning model would change, from its recorded assignments (run
    ``territory_model_assign`` first): accounts moved, added and unassigned, and per
    territory the deltas in accounts, open work orders and pipeline value, with the
    coefficient of variation of each across territories before and after."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    model = TerritoryModel.objects.filter(pk=model_id, state=ModelState.PLANNING).first()
    if model is None:
        raise ApplicationError("not_found", f"No planning model {model_id}.", status=404)
    active = assignment.active_model()
    before = _current_accounts(active)
    after = _current_accounts(model)
    moved = sorted(a for a in after if a in before and before[a] != after[a])
    added = sorted(a for a in after if a not in before)
    unassigned = sorted(a for a in before if a not in after)
    after_codes = set(model.territories.values_list("code", flat=True))
    before_codes = set(active.territories.values_list("code", flat=True)) if active else set()
    count_before = _count(before)
    count_after = _count(after)
    codes = sorted(set(before.values()) | set(after.values()) | after_codes)
    return {
        "model": model.pk,
        "accounts_moved": len(moved),
        "accounts_added": len(added),
        "accounts_unassigned": len(unassigned),
        "moved": moved[:1000],
        "added": added[:1000],
        "unassigned": unassigned[:1000],
        # Work orders and pipeline arrive with the field-service and sales issues: until then
        # every territory has none.
        "territories": [
            {
                "code": code,
                "accounts": {
                    "before": count_before.get(code, 0),
                    "after": count_after.get(code, 0),
                    "delta": count_after.get(code, 0) - count_before.get(code, 0),
                },
                "open_work_orders": {"before": 0, "after": 0, "delta": 0},
                "pipeline_value": {"before": 0.0, "after": 0.0, "delta": 0.0},
            }
            for code in codes
        ],
        "coefficient_of_variation": {
            "accounts": {
                "before": _cv([float(count_before.get(c, 0)) for c in sorted(before_codes)]),
                "after": _cv([float(count_after.get(c, 0)) for c in sorted(after_codes)]),
            },
            "open_work_orders": {"before": None, "after": None},
            "pipeline_value": {"before": None, "after": None},
        },
    }


def _count(assignments: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for code in assignments.values():
        counts[code] = counts.get(code, 0) + 1
    return counts


@transaction.atomic
def territory_model_activate(*, actor: User, model_id: int) -> TerritoryModel:
    """Make a planning model the active one, in one transaction: the old one is archived,
    every site and account is assigned in the new one, and accounts that change territory
    move scope (their old reps' devices delete them at the next pull, the new ones' receive
    them). Any failure leaves the old model active and nothing changed."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    model = lock_planning(model_id)
    now = timezone.now()
    previous = TerritoryModel.objects.select_for_update().filter(state=ModelState.ACTIVE).first()
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
    outcome = assignment.compute(model)
    assignment.record(model, outcome, now=now)
    assignment.apply_to_accounts(model, outcome, actor=actor)
    # Members of either map hold other territory keys now.
    poke_members(
        Membership.objects.filter(
            territory__territory_model__in=[m for m in (model, previous) if m is not None]
        ).values_list("user_id", flat=True)
    )
    return model


@transaction.atomic
def override_set(
    *, actor: User, record_type: str, record_id: str, territory_code: str, cause: str
) -> Override:
    """Put a site or account in a territory by hand; it holds across model versions. Applied
    to the active model at once."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    if record_type not in RecordType.values:
        raise ApplicationError(
            "invalid", "record_type is site or account.", fields={"record_type": ["Unknown."]}
        )
    if not cause.strip():
        raise ApplicationError("invalid", "Say why.", fields={"cause": ["Required."]})
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
    territory_model_assign(actor=actor, model_id=active.pk)
    return override
