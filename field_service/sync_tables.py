"""The field-service tables devices sync, and who wins a field both sides changed offline.

Work orders are added in schema version 2. Dispatchers own the plan (crew, schedule, pins)
and what the job is, so the server wins those; the technician owns where the job stands in
the field (its state, the reason and the device's time of the move), so the device wins them,
and the state machine still decides: a move that is no longer legal (a job completed offline
after the dispatcher cancelled it) is rejected and kept for review, never applied."""

from field_service import models, scope, sync_writers
from sync import registry
from sync.registry import MergePolicy

CLIENT = MergePolicy.CLIENT
WORK_ORDERS_ADDED_IN = 2


def register() -> None:
    registry.register(
        models.WorkOrder,
        table="work_orders",
        fields=(
            "account",
            "site",
            "asset",
            "kind",
            "priority",
            "description",
            "required_skills",
            "required_certifications",
            "estimated_minutes",
            "time_windows",
            "source",
            "state",
            "state_reason",
            "state_changed_at",
            "territory",
            "scheduled_start",
            "scheduled_end",
            "pinned",
            "crew",
            "lead",
            "follow_up_of",
            "created_at",
            "updated_at",
            "archived_at",
        ),
        scope_keys=scope.work_order_keys,
        covered_by=scope.work_orders_covered_by,
        archived_field="archived_at",
        writer=sync_writers.WorkOrderWriter(),
        merge={"state": CLIENT, "state_reason": CLIENT, "state_changed_at": CLIENT},
        added_in=WORK_ORDERS_ADDED_IN,
    )
