"""The records a technician makes on a job: check-in and check-out, time entries, parts
used, checklist answers and notes. The same services serve REST and sync pushes; the crew
(or a dispatcher) writes them, on a job in any state, so what a device did offline is never
lost because the job moved on meanwhile."""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction

from crm.services import records
from field_service.models import (
    Attachment,
    ChecklistAnswer,
    ChecklistTemplate,
    CrewMember,
    JobNote,
    Part,
    PartUsage,
    SiteVisit,
    TimeEntry,
    WorkOrder,
)
from field_service.planning.travel import Haversine
from field_service.services.attachments import check_attachment
from server.access import Capability, has_capability
from server.errors import ApplicationError
from server.models import User

# A check-in further than this from the site is flagged (``FIELDLINE_CHECK_IN_RADIUS_M``).
DEFAULT_CHECK_IN_RADIUS_M = 500


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("invalid", message, fields={field: [message]})


def check_crew(actor: User, work_order: WorkOrder) -> None:
    """Its crew (and dispatchers) write a job's records."""
    if has_capability(actor, Capability.DISPATCH):
        return
    if not CrewMember.objects.filter(work_order=work_order, technician=actor).exists():
        raise ApplicationError(
            "permission_denied", "Only the job's crew records work on it.", status=403
        )


def _flag_distance(visit: SiteVisit) -> None:
    site = visit.work_order.site
    if None in (visit.check_in_latitude, visit.check_in_longitude, site.latitude, site.longitude):
        visit.distance_m, visit.far_from_site = None, False
        return
    _, metres = Haversine(road_factor=1.0).between(
        (float(visit.check_in_longitude), float(visit.check_in_latitude)),  # type: ignore[arg-type]
        (float(site.longitude), float(site.latitude)),  # type: ignore[arg-type]
    )
    radius = getattr(settings, "FIELDLINE_CHECK_IN_RADIUS_M", DEFAULT_CHECK_IN_RADIUS_M)
    visit.distance_m, visit.far_from_site = metres, metres > radius


def _check_answer(work_order: WorkOrder, item_key: str, value: Any) -> None:
    template = ChecklistTemplate.objects.filter(
        kind=work_order.kind, archived_at__isnull=True
    ).first()
    items = {item["key"]: item for item in template.items} if template else {}
    item = items.get(item_key)
    if item is None:
        raise _invalid("item_key", f"No checklist item {item_key!r} for a {work_order.kind} job.")
    kind = item.get("type", "text")
    valid = {
        "yes_no": isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "text": isinstance(value, str),
    }.get(kind, True)
    if not valid:
        raise _invalid(
            "value", f"{item.get('label', item_key)} takes a {kind.replace('_', '/')} answer."
        )


def _check_part(part: Part | None, quantity: Any) -> None:
    if part is None or part.archived_at is not None:
        raise _invalid("part", "Not a part of the catalogue.")
    if not isinstance(quantity, decimal.Decimal | int | float) or quantity <= 0:
        raise _invalid("quantity", "A quantity above zero.")


@dataclass(frozen=True)
class RecordKind:
    """How one kind of job record is written: its model, the fields a device or client may
    set, and the check each write passes (after the fields are set)."""

    model: type[SiteVisit | TimeEntry | PartUsage | ChecklistAnswer | JobNote | Attachment]
    fields: frozenset[str]

    def check(self, record: Any) -> None:
        if isinstance(record, SiteVisit):
            _flag_distance(record)
        elif isinstance(record, PartUsage):
            _check_part(record.part, record.quantity)
        elif isinstance(record, ChecklistAnswer):
            _check_answer(record.work_order, record.item_key, record.value)
        elif isinstance(record, Attachment):
            if record.uploaded_at is not None:
                raise ApplicationError(
                    "already_uploaded", "A file that arrived is not changed.", status=409
                )
            check_attachment(record)


SITE_VISITS = RecordKind(
    SiteVisit,
    frozenset(
        {
            "checked_in_at",
            "check_in_latitude",
            "check_in_longitude",
            "checked_out_at",
            "check_out_latitude",
            "check_out_longitude",
        }
    ),
)
TIME_ENTRIES = RecordKind(TimeEntry, frozenset({"kind", "started_at", "ended_at"}))
PART_USAGES = RecordKind(PartUsage, frozenset({"part", "quantity"}))
CHECKLIST_ANSWERS = RecordKind(ChecklistAnswer, frozenset({"item_key", "value"}))
JOB_NOTES = RecordKind(JobNote, frozenset({"body"}))
ATTACHMENTS = RecordKind(
    Attachment, frozenset({"kind", "content_type", "size", "sha256", "caption"})
)


@transaction.atomic
def job_record_create(
    kind: RecordKind,
    /,
    *,
    actor: User,
    work_order: WorkOrder,
    record_id: str | None = None,
    **values: Any,
) -> models.Model:
    """A new record of ``kind`` on the job, by one of its crew. (``kind`` is positional only:
    a time entry has a field of that name.)"""
    check_crew(actor, work_order)
    record = records.with_id(kind.model(work_order=work_order, technician=actor), record_id)
    records.assign(record, values, allowed=kind.fields)
    kind.check(record)
    return records.create(record, actor=actor)


@transaction.atomic
def job_record_update(kind: RecordKind, /, *, actor: User, record: Any, **values: Any) -> Any:
    """Change a record (loaded for update): its author's, or a dispatcher's."""
    if record.technician_id != actor.pk and not has_capability(actor, Capability.DISPATCH):
        raise ApplicationError(
            "permission_denied", "Only its author changes this record.", status=403
        )
    edit = records.Edit(record)
    records.assign(record, values, allowed=kind.fields)
    kind.check(record)
    edit.save(actor=actor)
    return record


@transaction.atomic
def job_record_archive(kind: RecordKind, /, *, actor: User, record: Any) -> Any:
    if record.technician_id != actor.pk and not has_capability(actor, Capability.DISPATCH):
        raise ApplicationError(
            "permission_denied", "Only its author removes this record.", status=403
        )
    return records.archive(record, actor=actor)


def missing_checklist_items(work_order: WorkOrder) -> list[str]:
    """The labels of the required checklist items the job has no answer for."""
    template = ChecklistTemplate.objects.filter(
        kind=work_order.kind, archived_at__isnull=True
    ).first()
    if template is None:
        return []
    answered = set(
        ChecklistAnswer.objects.filter(work_order=work_order, archived_at__isnull=True).values_list(
            "item_key", flat=True
        )
    )
    return [
        item.get("label", item["key"])
        for item in template.items
        if item.get("required") and item["key"] not in answered
    ]
