"""Reads of territories: models, territories, the point lookup, exports and history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet

from server.access import Capability, require_capability
from server.errors import ApplicationError
from server.models import User
from territories import geometry
from territories.models import (
    Assignment,
    ModelState,
    Override,
    RecordType,
    Territory,
    TerritoryJob,
    TerritoryModel,
)
from territories.services.assignment import active_model, index_for


def territory_model_get(model_id: int) -> TerritoryModel:
    model = TerritoryModel.objects.filter(pk=model_id).first()
    if model is None:
        raise ApplicationError("not_found", f"No territory model {model_id}.", status=404)
    return model


def territory_list(*, model_id: int | None) -> QuerySet[Territory]:
    """The territories of a model (the active one by default)."""
    model = territory_model_get(model_id) if model_id is not None else active_model()
    if model is None:
        return Territory.objects.none()
    return Territory.objects.filter(territory_model=model).select_related("type", "parent")


def territory_export(model: TerritoryModel) -> dict[str, Any]:
    territories = Territory.objects.filter(territory_model=model).select_related("type", "parent")
    return geometry.feature_collection(
        (
            geometry.Shape(
                bytes(t.geometry), t.area, (t.min_lng, t.min_lat, t.max_lng, t.max_lat), t.vertices
            ),
            {
                "code": t.code,
                "name": t.name,
                "type": t.type.code,
                "parent": t.parent.code if t.parent else None,
                "order": t.order,
            },
        )
        for t in territories.order_by("code")
    )


def territories_at(*, lng: float, lat: float) -> list[Territory]:
    """The active model's territories covering a point, the one assignment picks first."""
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise ApplicationError(
            "invalid",
            "Coordinates out of range.",
            fields={"lng": ["-180..180"], "lat": ["-90..90"]},
        )
    model = active_model()
    if model is None:
        return []
    index, _ = index_for(model)
    keys = index.containing(lng, lat)
    found = Territory.objects.in_bulk(keys)
    return [found[key] for key in keys if key in found]


def assignment_history(
    *, record_type: str, record_id: str, as_of: dt.datetime | None
) -> QuerySet[Assignment]:
    """A record's assignments in every model, or those in force at ``as_of``."""
    rows = Assignment.objects.filter(record_type=record_type, record_id=record_id)
    if as_of is not None:
        rows = rows.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=as_of), valid_from__lte=as_of)
    return rows.select_related("territory", "territory_model").order_by("valid_from", "pk")


def territory_job_list(*, actor: User, model_id: int | None) -> QuerySet[TerritoryJob]:
    """Territory jobs, newest first: for those who manage territories."""
    require_capability(actor, Capability.TERRITORY_MANAGE)
    jobs = TerritoryJob.objects.all()
    return jobs.filter(territory_model_id=model_id) if model_id is not None else jobs


def territory_job_get(*, actor: User, job_id: int) -> TerritoryJob:
    job = territory_job_list(actor=actor, model_id=None).filter(pk=job_id).first()
    if job is None:
        raise ApplicationError("not_found", f"No territory job {job_id}.", status=404)
    return job


def override_list(*, current: bool) -> QuerySet[Override]:
    overrides = Override.objects.all()
    return overrides.filter(removed_at__isnull=True) if current else overrides


def site_territory_code(site_id: str) -> str:
    """The code of the territory a site is in, in the active model ("" when none)."""
    return site_territory_codes([site_id]).get(site_id, "")


def site_territory_codes(site_ids: Iterable[str]) -> dict[str, str]:
    """Site id -> the code of its territory in the active model (sites in none left out)."""
    return dict(
        Assignment.objects.filter(
            territory_model__state=ModelState.ACTIVE,
            record_type=RecordType.SITE,
            record_id__in=list(site_ids),
            valid_to__isnull=True,
            territory__isnull=False,
        ).values_list("record_id", "territory__code")
    )


def active_territory_codes() -> list[str]:
    """Every territory code of the active model."""
    return sorted(
        Territory.objects.filter(territory_model__state=ModelState.ACTIVE).values_list(
            "code", flat=True
        )
    )
