"""Who may see and change work orders. Visibility is the scope-key selector from
``field_service.scope``; REST, sync pushes and the dispatch board all use these loaders."""

from __future__ import annotations

from django.db.models import QuerySet

from field_service.models import DayPlanProposal, WorkOrder
from field_service.scope import work_orders_covered_by
from server.access import WORK_ORDERS_KEY, scope_keys_for
from server.errors import ApplicationError
from server.models import User
from sync.ids import is_valid_id
from territories.scope import dispatch_key


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


def require_board(actor: User, territory: str) -> None:
    """Only the territory's dispatchers (and those who see every job) plan its days."""
    keys = scope_keys_for(actor)
    if WORK_ORDERS_KEY not in keys and dispatch_key(territory) not in keys:
        raise ApplicationError(
            "permission_denied", f"You do not dispatch territory {territory!r}.", status=403
        )


def access_day_plan(*, actor: User, proposal_id: int) -> DayPlanProposal:
    proposal = DayPlanProposal.objects.filter(pk=proposal_id).first()
    if proposal is None:
        raise ApplicationError("not_found", f"No day plan {proposal_id}.", status=404)
    require_board(actor, proposal.territory)
    return proposal
