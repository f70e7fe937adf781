"""How work orders pushed by devices become writes: a technician moves a job through its
states offline; the same service and permission loader as the REST API apply it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from field_service.permissions import access_work_order
from field_service.services.execution import (
    RecordKind,
    job_record_archive,
    job_record_create,
    job_record_update,
)
from field_service.services.work_orders import work_order_transition
from server.errors import ApplicationError
from server.models import User


class WorkOrderWriter:
    # The state the device moved the job to, why, and when the device says it did.
    fields = frozenset({"state", "state_reason", "state_changed_at"})

    def create(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        raise ApplicationError("not_creatable", "Work orders are created by the back office.")

    def update(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        work_order = access_work_order(actor=actor, work_order_id=record_id, for_update=True)
        target = values.get("state", work_order.state)
        if target == work_order.state:
            return  # only the reason or the device's time: nothing moved
        device_at = values.get("state_changed_at")
        work_order_transition(
            actor=actor,
            work_order=work_order,
            to_state=target,
            reason=values.get("state_reason") or "",
            device_at=device_at if isinstance(device_at, dt.datetime) else None,
        )

    def delete(self, *, actor: User, record_id: str) -> None:
        raise ApplicationError("not_deletable", "Work orders are cancelled, not deleted.")


@dataclass(frozen=True)
class JobRecordWriter:
    """Visits, time entries, parts used, checklist answers and notes a technician makes on a
    job, offline."""

    kind: RecordKind

    @property
    def fields(self) -> frozenset[str]:
        return self.kind.fields | {"work_order"}

    def create(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        parent = values.pop("work_order", None)
        if parent is None:
            raise ApplicationError(
                "invalid", "work_order_id is required.", fields={"work_order_id": ["Required."]}
            )
        work_order = access_work_order(actor=actor, work_order_id=parent.pk)
        job_record_create(
            self.kind, actor=actor, work_order=work_order, record_id=record_id, **values
        )

    def update(self, *, actor: User, record_id: str, values: dict[str, Any]) -> None:
        values.pop("work_order", None)  # a record stays on its job
        job_record_update(self.kind, actor=actor, record=self._load(actor, record_id), **values)

    def delete(self, *, actor: User, record_id: str) -> None:
        job_record_archive(self.kind, actor=actor, record=self._load(actor, record_id))

    def _load(self, actor: User, record_id: str) -> Any:
        record = self.kind.model.objects.select_for_update().filter(pk=record_id).first()
        if record is None:
            raise ApplicationError("not_found", f"No record {record_id!r}.", status=404)
        access_work_order(actor=actor, work_order_id=record.work_order_id)  # visible job
        return record
