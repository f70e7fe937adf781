"""How work orders pushed by devices become writes: a technician moves a job through its
states offline; the same service and permission loader as the REST API apply it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from field_service.permissions import access_work_order
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
