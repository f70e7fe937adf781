"""Which territory each site and account belongs to, in a territory model.

* A **site** goes where its coordinates fall (cause ``geo``), or gets a reason code
  (``no_geocode``, ``outside_all``, ``overlap_tie``).
* An **account** goes where its primary site goes (cause ``rule``).
* A **manual override**, by territory code, beats both (cause ``manual``) and carries over
  to the next model version.

Results are effective-dated ``Assignment`` rows: a change closes the current row and opens
a new one, so "as of a date" is a range query. In the active model, an account's territory
is also written to ``Account.territory`` through crm's service, which moves its scope (and
its records') so devices gain or lose it at their next pull.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.utils import timezone

from crm import services as crm_services
from crm.models import Account, Site
from server.models import User
from territories import geometry, hooks
from territories.models import (
    Assignment,
    Cause,
    ModelState,
    Override,
    RecordType,
    Territory,
    TerritoryModel,
)
from territories.progress import SILENT, Progress

# One spatial index per model revision, per process: built once, reused by every single
# assignment until the model's territories change.
_indexes: dict[tuple[int, str], tuple[geometry.TerritoryIndex, dict[int, str]]] = {}
_lock = threading.Lock()


def index_for(model: TerritoryModel) -> tuple[geometry.TerritoryIndex, dict[int, str]]:
    """The spatial index of ``model`` and the code of each territory id."""
    key = (model.pk, model.revision)
    with _lock:
        cached = _indexes.get(key)
    if cached is not None:
        return cached
    rows = list(
        Territory.objects.filter(territory_model=model).values_list(
            "pk", "code", "geometry", "type__priority", "order"
        )
    )
    index = geometry.TerritoryIndex(
        (pk, geometry.Shape.from_wkb(bytes(wkb)), priority, order)
        for pk, _code, wkb, priority, order in rows
    )
    built = (index, {pk: code for pk, code, *_ in rows})
    with _lock:
        for stale in [k for k in _indexes if k[0] == model.pk]:
            del _indexes[stale]
        _indexes[key] = built
    return built


# (territory id or None, reason code, cause)
Placement = tuple[int | None, str, str]


@dataclass
class Outcome:
    """Where a model puts each record: ``(territory id or None, reason, cause)``."""

    sites: dict[str, Placement] = field(default_factory=dict)
    accounts: dict[str, Placement] = field(default_factory=dict)
    # Each account's territory code in the active model as it was read (those with one):
    # what a preview compares with, read once with the accounts.
    current_codes: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        reasons: dict[str, int] = {}
        for _, reason, _cause in self.accounts.values():
            reasons[reason or "assigned"] = reasons.get(reason or "assigned", 0) + 1
        return reasons


# Rows read per round trip, and points assigned per vectorised call (a progress report each).
READ_CHUNK = 50_000
ASSIGN_CHUNK = 250_000


def compute(model: TerritoryModel, progress: Progress = SILENT) -> Outcome:
    """Assign every live site and account in ``model``, in bulk (vectorised point in
    polygon), with the overrides applied. Read-only: run it outside a transaction when it is
    long, so that its progress reports are seen."""
    index, codes = index_for(model)
    by_code = {code: pk for pk, code in codes.items()}
    sites = Site.objects.filter(archived_at__isnull=True)
    progress.stage("reading sites", sites.count())
    rows: list[tuple[str, str, bool, float | None, float | None]] = []
    for chunk in itertools.batched(
        sites.values_list("pk", "account_id", "is_primary", "longitude", "latitude").iterator(
            chunk_size=READ_CHUNK
        ),
        READ_CHUNK,
    ):
        rows.extend(chunk)
        progress.advance(len(chunk))
    # None (not geocoded) becomes NaN, which the index reports as no_geocode.
    lngs = np.array([r[3] for r in rows], dtype=np.float64)
    lats = np.array([r[4] for r in rows], dtype=np.float64)
    progress.stage("assigning sites", len(rows))
    keys = np.empty(len(rows), dtype=np.int64)
    reasons = np.empty(len(rows), dtype=np.uint8)
    for start in range(0, len(rows), ASSIGN_CHUNK):
        part = index.assign(lngs[start : start + ASSIGN_CHUNK], lats[start : start + ASSIGN_CHUNK])
        keys[start : start + ASSIGN_CHUNK] = part.keys
        reasons[start : start + ASSIGN_CHUNK] = part.reasons
        progress.advance(len(part.keys))
    names = geometry.REASONS
    outcome = Outcome()
    primary: dict[str, str] = {}
    for (site_id, account_id, is_primary, _lng, _lat), key, reason in zip(
        rows, keys.tolist(), reasons.tolist(), strict=True
    ):
        outcome.sites[site_id] = (key if key >= 0 else None, names[reason], Cause.GEO)
        if is_primary:
            primary[account_id] = site_id
    accounts = Account.objects.filter(archived_at__isnull=True)
    progress.stage("assigning accounts", accounts.count())
    for batch in itertools.batched(
        accounts.values_list("pk", "territory").iterator(chunk_size=READ_CHUNK), READ_CHUNK
    ):
        for account_id, current in batch:
            if current:
                outcome.current_codes[account_id] = current
            primary_site = primary.get(account_id)
            if primary_site is None:
                outcome.accounts[account_id] = (None, "no_geocode", Cause.RULE)
            else:
                territory, site_reason, _ = outcome.sites[primary_site]
                outcome.accounts[account_id] = (territory, site_reason, Cause.RULE)
        progress.advance(len(batch))
    for override in Override.objects.filter(removed_at__isnull=True):
        territory_id = by_code.get(override.territory_code)
        target = outcome.sites if override.record_type == RecordType.SITE else outcome.accounts
        if territory_id is not None and override.record_id in target:
            target[override.record_id] = (territory_id, "", Cause.MANUAL)
    return outcome


@transaction.atomic
def record(model: TerritoryModel, outcome: Outcome, *, now: dt.datetime | None = None) -> int:
    """Write ``outcome`` as ``model``'s current assignments: close the rows that changed and
    open new ones. Returns how many changed."""
    now = now or timezone.now()
    changed = 0
    for record_type, results in (
        (RecordType.SITE, outcome.sites),
        (RecordType.ACCOUNT, outcome.accounts),
    ):
        current = {
            rid: (pk, territory, reason, cause)
            for pk, rid, territory, reason, cause in Assignment.objects.filter(
                territory_model=model, record_type=record_type, valid_to__isnull=True
            ).values_list("pk", "record_id", "territory_id", "reason", "cause")
        }
        stale = [row[0] for rid, row in current.items() if rid not in results]
        fresh: list[Assignment] = []
        for record_id, (territory, reason, cause) in results.items():
            existing = current.get(record_id)
            if existing is not None and existing[1:] == (territory, reason, cause):
                continue
            if existing is not None:
                stale.append(existing[0])
            fresh.append(_row(model, record_type, record_id, (territory, reason, cause), now))
        for start in range(0, len(stale), 5000):
            Assignment.objects.filter(pk__in=stale[start : start + 5000]).update(valid_to=now)
        Assignment.objects.bulk_create(fresh, batch_size=5000)
        changed += len(fresh)
    return changed


def apply_to_accounts(model: TerritoryModel, outcome: Outcome, *, actor: User | None) -> int:
    """Give each account its territory code in the active model, through crm's service, so
    the account and its records change scope. Returns how many moved."""
    _, codes = index_for(model)
    wanted = {
        account_id: codes[territory] if territory is not None else ""
        for account_id, (territory, _reason, _cause) in outcome.accounts.items()
    }
    moving = {
        account_id: wanted.get(account_id, "")
        for account_id, code in Account.objects.filter(archived_at__isnull=True).values_list(
            "pk", "territory"
        )
        if code != wanted.get(account_id, "")
    }
    return crm_services.accounts_set_territories(actor=actor, territories=moving)


def active_model() -> TerritoryModel | None:
    return TerritoryModel.objects.filter(state=ModelState.ACTIVE).first()


def site_located(site: Site, actor: User | None) -> None:
    """Assign a site just created or moved, in the active model, inside the caller's
    transaction; a primary site takes its account along."""
    model = active_model()
    if model is None:
        return
    _place_site(model, site, actor)


def reassign(model: TerritoryModel, record_type: str, record_id: str, actor: User | None) -> None:
    """Place one site or account again in the active ``model``, inside the caller's
    transaction (its override was just set or removed)."""
    if record_type == RecordType.SITE:
        site = Site.objects.filter(pk=record_id).first()
        if site is not None:
            _place_site(model, site, actor)
        return
    account = Account.objects.select_for_update().filter(pk=record_id).first()
    if account is None:
        return
    _, codes = index_for(model)
    manual = _override(model, RecordType.ACCOUNT, account.pk)
    if manual is not None:
        placement: Placement = (manual, "", Cause.MANUAL)
    else:
        primary = (
            Site.objects.filter(account=account, is_primary=True, archived_at__isnull=True)
            .order_by("pk")
            .first()
        )
        if primary is None:
            placement = (None, "no_geocode", Cause.RULE)
        else:
            territory, reason = _site_placement(model, primary)[:2]
            placement = (territory, reason, Cause.RULE)
    _move_account(model, account, placement, actor)


def _override(model: TerritoryModel, record_type: str, record_id: str) -> int | None:
    """The territory (of ``model``) a live override puts the record in, if any."""
    code = (
        Override.objects.filter(
            record_type=record_type, record_id=record_id, removed_at__isnull=True
        )
        .values_list("territory_code", flat=True)
        .first()
    )
    if code is None:
        return None
    _, codes = index_for(model)
    return next((pk for pk, c in codes.items() if c == code), None)


def _site_placement(model: TerritoryModel, site: Site) -> Placement:
    manual = _override(model, RecordType.SITE, site.pk)
    if manual is not None:
        return (manual, "", Cause.MANUAL)
    index, _ = index_for(model)
    territory, reason = index.assign_one(site.longitude, site.latitude)
    return (territory, reason, Cause.GEO)


def _place_site(model: TerritoryModel, site: Site, actor: User | None) -> None:
    placement = _site_placement(model, site)
    _replace(model, RecordType.SITE, site.pk, placement)
    hooks.sites_reassigned([site.pk], actor)
    if site.is_primary and site.archived_at is None:
        if _override(model, RecordType.ACCOUNT, site.account_id) is None:
            account = Account.objects.select_for_update().get(pk=site.account_id)
            territory, reason, _ = placement
            _move_account(model, account, (territory, reason, Cause.RULE), actor)


def _move_account(
    model: TerritoryModel, account: Account, placement: Placement, actor: User | None
) -> None:
    _replace(model, RecordType.ACCOUNT, account.pk, placement)
    _, codes = index_for(model)
    territory = placement[0]
    code = codes[territory] if territory is not None else ""
    crm_services.account_set_territory(actor=actor, account=account, code=code)


def _replace(model: TerritoryModel, record_type: str, record_id: str, value: Placement) -> None:
    now = timezone.now()
    territory, reason, cause = value
    current = (
        Assignment.objects.select_for_update()
        .filter(
            territory_model=model,
            record_type=record_type,
            record_id=record_id,
            valid_to__isnull=True,
        )
        .first()
    )
    if current is not None:
        if (current.territory_id, current.reason, current.cause) == (territory, reason, cause):
            return
        current.valid_to = now
        current.save(update_fields=["valid_to"])
    _row(model, record_type, record_id, value, now).save(force_insert=True)


def _row(
    model: TerritoryModel,
    record_type: str,
    record_id: str,
    value: Placement,
    now: dt.datetime,
) -> Assignment:
    """The assignment row that opens at ``now`` for ``(territory, reason, cause)``."""
    territory, reason, cause = value
    return Assignment(
        territory_model=model,
        record_type=record_type,
        record_id=record_id,
        territory_id=territory,
        reason=reason,
        cause=cause,
        valid_from=now,
    )
