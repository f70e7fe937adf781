"""The field-service tables devices sync, and who wins a field both sides changed offline.

Work orders are added in schema version 2. Dispatchers own the plan (crew, schedule, pins)
and what the job is, so the server wins those; the technician owns where the job stands in
the field (its state, the reason and the device's time of the move), so the device wins them,
and the state machine still decides: a move that is no longer legal (a job completed offline
after the dispatcher cancelled it) is rejected and kept for review, never applied."""

from crm.scope import reference_coverage, reference_keys
from field_service import models, scope, sync_writers
from field_service.services import execution
from sync import registry
from sync.registry import MergePolicy

CLIENT = MergePolicy.CLIENT
WORK_ORDERS_ADDED_IN = 2
COMMON = ("created_at", "updated_at", "archived_at")
# Columns devices read but only the server writes: a check-in's distance from the site, when
# an attachment's file arrived.
SERVER_SET = {
    "site_visits": ("distance_m", "far_from_site"),
    "attachments": ("uploaded_at",),
}


def register() -> None:
    registry.register(
        models.WorkOrder,
        table="work_orders",
        fields=(*models.WORK_ORDER_READ_FIELDS, "archived_at"),
        scope_keys=scope.work_order_keys,
        covered_by=scope.work_orders_covered_by,
        archived_field="archived_at",
        writer=sync_writers.WorkOrderWriter(),
        merge={"state": CLIENT, "state_reason": CLIENT, "state_changed_at": CLIENT},
        added_in=WORK_ORDERS_ADDED_IN,
    )

    for model, table, fields in (
        (models.Part, "parts", ("sku", "name", "unit")),
        (models.ChecklistTemplate, "checklist_templates", ("kind", "name", "items")),
    ):
        registry.register(
            model,
            table=table,
            fields=(*fields, *COMMON),
            scope_keys=reference_keys,
            covered_by=reference_coverage,
            archived_field="archived_at",
            added_in=WORK_ORDERS_ADDED_IN,
        )
    for kind, table in (
        (execution.SITE_VISITS, "site_visits"),
        (execution.TIME_ENTRIES, "time_entries"),
        (execution.PART_USAGES, "part_usages"),
        (execution.CHECKLIST_ANSWERS, "checklist_answers"),
        (execution.JOB_NOTES, "job_notes"),
        (execution.ATTACHMENTS, "attachments"),
    ):
        registry.register(
            kind.model,
            table=table,
            fields=(
                "work_order",
                "technician",
                *sorted(kind.fields),
                *SERVER_SET.get(table, ()),
                *COMMON,
            ),
            scope_keys=scope.job_record_keys,
            covered_by=scope.job_records_covered_by,
            archived_field="archived_at",
            writer=sync_writers.JobRecordWriter(kind),
            # what the technician records in the field is theirs
            default_merge=CLIENT,
            added_in=WORK_ORDERS_ADDED_IN,
        )
