"""Writes to territory models: create, clone, import GeoJSON, members, types."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Max

from server.access import Capability, require_capability
from server.errors import ApplicationError
from server.models import User
from server.services import users_rescoped
from territories import geometry
from territories.models import (
    MemberRole,
    Membership,
    ModelState,
    Territory,
    TerritoryModel,
    TerritoryType,
    new_revision,
)


def members_rescoped(user_ids: Iterable[int]) -> None:
    """Their territory keys changed: see ``server.services.users_rescoped``."""
    users_rescoped(user_ids)


def _next_version() -> int:
    return (TerritoryModel.objects.aggregate(v=Max("version"))["v"] or 0) + 1


@transaction.atomic
def territory_model_create(*, actor: User | None, name: str) -> TerritoryModel:
    if actor is not None:
        require_capability(actor, Capability.TERRITORY_MANAGE)
    return TerritoryModel.objects.create(name=name, version=_next_version())


def lock_planning(model_id: int) -> TerritoryModel:
    return planning_model(model_id, lock=True)


def planning_model(model_id: int, *, lock: bool = False) -> TerritoryModel:
    """A planning model (locked when asked): a 404 when there is none, a 409 when it is
    active or archived."""
    models = TerritoryModel.objects.select_for_update() if lock else TerritoryModel.objects
    model = models.filter(pk=model_id).first()
    if model is None:
        raise ApplicationError("not_found", f"No territory model {model_id}.", status=404)
    if model.state != ModelState.PLANNING:
        raise ApplicationError(
            "invalid_state",
            f"Territory model v{model.version} is {model.state}; only a planning model changes.",
            status=409,
        )
    return model


@transaction.atomic
def territory_model_clone(*, actor: User, source: TerritoryModel, name: str) -> TerritoryModel:
    """A planning copy of ``source`` (usually the active model): its territories, tree and
    memberships."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    clone = TerritoryModel.objects.create(name=name, version=_next_version(), cloned_from=source)
    copies: dict[int, Territory] = {}
    originals = list(source.territories.order_by("pk"))
    for original in originals:
        copies[original.pk] = Territory.objects.create(
            territory_model=clone,
            type_id=original.type_id,
            code=original.code,
            name=original.name,
            order=original.order,
            geometry=bytes(original.geometry),
            area=original.area,
            min_lng=original.min_lng,
            min_lat=original.min_lat,
            max_lng=original.max_lng,
            max_lat=original.max_lat,
            vertices=original.vertices,
        )
    for original in originals:
        if original.parent_id is not None:
            copy = copies[original.pk]
            copy.parent = copies[original.parent_id]
            copy.save(update_fields=["parent"])
    Membership.objects.bulk_create(
        Membership(
            territory=copies[m.territory_id],
            user_id=m.user_id,
            role=m.role,
            valid_from=m.valid_from,
            valid_to=m.valid_to,
        )
        for m in Membership.objects.filter(territory__territory_model=source)
    )
    return clone


@transaction.atomic
def territories_import(
    *, actor: User, model_id: int, collection: Any, make_valid: bool = False
) -> list[Territory]:
    """Create or replace territories of a planning model from a GeoJSON FeatureCollection.
    Each feature has ``properties``: ``code`` (or the feature ``id``), ``name``, ``type`` (a
    territory type code), optional ``parent`` (a code in the model or the collection) and
    ``order``. Any bad feature refuses the whole import with every problem named."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    model = lock_planning(model_id)
    try:
        features = geometry.read_feature_collection(collection, make_valid=make_valid)
    except geometry.FeatureCollectionError as error:
        raise ApplicationError(
            "invalid_geometry",
            "Some features are not valid territories; nothing was imported.",
            fields={
                _path(p.feature_index, p.feature_id): [f"{p.reason}: {p.message}"]
                for p in error.problems
            },
        ) from error
    types = {t.code: t for t in TerritoryType.objects.all()}
    problems: dict[str, list[str]] = {}
    rows: list[tuple[geometry.Feature, str, TerritoryType]] = []
    seen: set[str] = set()
    for feature in features:
        path = _path(feature.index, feature.id)
        code = feature.id
        type_ = types.get(str(feature.properties.get("type", "")))
        if not code:
            problems.setdefault(path, []).append("missing: a feature needs an id or a code.")
        elif code in seen:
            problems.setdefault(path, []).append(f"duplicate: code {code!r} appears twice.")
        if type_ is None:
            problems.setdefault(path, []).append(
                f"unknown_type: type must be one of {', '.join(sorted(types))}."
            )
        if code and type_ is not None and code not in seen:
            rows.append((feature, code, type_))
        if code:
            seen.add(code)
    existing = {t.code: t for t in model.territories.all()}
    known_codes = set(existing) | seen
    for feature, _code, _type in rows:
        parent = feature.properties.get("parent")
        if parent not in (None, "") and parent not in known_codes:
            problems.setdefault(_path(feature.index, feature.id), []).append(
                f"unknown_parent: no territory {parent!r} in this model or file."
            )
    if problems:
        raise ApplicationError(
            "invalid_territories",
            "Some features cannot be imported; nothing was imported.",
            fields=problems,
        )
    saved: dict[str, Territory] = dict(existing)
    for feature, code, type_ in rows:
        shape = feature.shape
        territory = existing.get(code) or Territory(territory_model=model, code=code)
        territory.name = str(feature.properties.get("name") or code)
        territory.type = type_
        territory.order = int(feature.properties.get("order") or 0)
        territory.geometry = shape.wkb
        territory.area = shape.area
        territory.min_lng, territory.min_lat, territory.max_lng, territory.max_lat = shape.bounds
        territory.vertices = shape.vertices
        territory.save()
        saved[code] = territory
    for feature, code, _type in rows:
        parent_code = feature.properties.get("parent") or None
        territory = saved[code]
        territory.parent = saved[parent_code] if parent_code else None
        territory.save(update_fields=["parent"])
    TerritoryModel.objects.filter(pk=model.pk).update(revision=new_revision())
    return [saved[code] for _, code, _ in rows]


def _path(index: int | None, feature_id: str | None) -> str:
    label = f"features[{index}]" if index is not None else "features"
    return f"{label} ({feature_id})" if feature_id else label


@transaction.atomic
def territory_type_create(*, actor: User, code: str, name: str, priority: int) -> TerritoryType:
    require_capability(actor, Capability.TERRITORY_MANAGE)
    return TerritoryType.objects.create(code=code, name=name, priority=priority)


@transaction.atomic
def membership_add(
    *,
    actor: User,
    territory: Territory,
    user: User,
    role: str,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
) -> Membership:
    require_capability(actor, Capability.TERRITORY_MANAGE)
    if role not in MemberRole.values:
        raise ApplicationError("invalid", "Unknown role.", fields={"role": ["Unknown."]})
    if valid_to is not None and valid_to < valid_from:
        raise ApplicationError(
            "invalid", "valid_to is before valid_from.", fields={"valid_to": ["Too early."]}
        )
    membership = Membership.objects.create(
        territory=territory, user=user, role=role, valid_from=valid_from, valid_to=valid_to
    )
    members_rescoped([user.pk])
    return membership


@transaction.atomic
def membership_end(*, actor: User, membership: Membership, valid_to: dt.date) -> Membership:
    require_capability(actor, Capability.TERRITORY_MANAGE)
    if valid_to < membership.valid_from:
        raise ApplicationError(
            "invalid", "valid_to is before valid_from.", fields={"valid_to": ["Too early."]}
        )
    membership.valid_to = valid_to
    membership.save(update_fields=["valid_to"])
    members_rescoped([membership.user_id])
    return membership
