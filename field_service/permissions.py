"""Who may see and change work orders. Visibility is the scope-key selector from
``field_service.scope``; REST, sync pushes and the dispatch board all use these loaders."""

from __future__ import annotations

from django.db.models import QuerySet

from field_service.models import WorkOrder
from field_service.scope import work_orders_covered_by
from server.access import scope_keys_for
from server.errors import ApplicationError
from server.models import User
from sync.ids import is_valid_id


def visible_work_orders(actor: User) -> QuerySet[WorkOrder]:
    return WorkOrder.objects.filter(work_orders_covered_by(scope_keys_for(actor)))


def access_work_order(*, actor: User, work_order_id: str, for_update: bool = False) -> WorkOrder:
    """A work order the actor may see (locked when asked), or a 404 exactly like a missing
    one."""
    missing = ApplicationError("not_found", f"No work order with id {work_order_id!r}.", status=404)
    if not is_valid_id(work_order_id):
        raise missing
    queryset = visible_work_orders(actor)
    if for_update:
        # Lock the row itself: the visibility filter joins, and a join cannot be locked on
        # every database.
        if not queryset.filter(pk=work_order_id).exists():
            raise missing
        queryset = WorkOrder.objects.select_for_update(of=("self",))
    work_order = queryset.select_related("account", "site").filter(pk=work_order_id).first()
    if work_order is None:
        raise missing
    return work_order
