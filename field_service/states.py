"""The work order state machine: which state may follow which, and who may move it there.

    new → scheduled → dispatched → en_route → on_site → completed
    on_hold (with a reason) from any open state, back to new, scheduled or dispatched;
    cannot_complete (with a reason) from en_route or on_site: it spawns a follow-up;
    cancelled from any state not yet finished.

Services enforce it (``work_order_transition``), for REST and sync pushes alike.
"""

from __future__ import annotations

from field_service.models import State

ALLOWED: dict[str, frozenset[str]] = {
    State.NEW: frozenset({State.SCHEDULED, State.DISPATCHED, State.ON_HOLD, State.CANCELLED}),
    State.SCHEDULED: frozenset({State.NEW, State.DISPATCHED, State.ON_HOLD, State.CANCELLED}),
    State.DISPATCHED: frozenset(
        {State.SCHEDULED, State.EN_ROUTE, State.ON_SITE, State.ON_HOLD, State.CANCELLED}
    ),
    State.EN_ROUTE: frozenset(
        {State.DISPATCHED, State.ON_SITE, State.ON_HOLD, State.CANNOT_COMPLETE, State.CANCELLED}
    ),
    State.ON_SITE: frozenset(
        {State.COMPLETED, State.ON_HOLD, State.CANNOT_COMPLETE, State.CANCELLED}
    ),
    State.ON_HOLD: frozenset({State.NEW, State.SCHEDULED, State.DISPATCHED, State.CANCELLED}),
    State.COMPLETED: frozenset(),
    State.CANNOT_COMPLETE: frozenset(),
    State.CANCELLED: frozenset(),
}

# States that need a reason.
NEEDS_REASON = frozenset({State.ON_HOLD, State.CANNOT_COMPLETE, State.CANCELLED})
# A job in these is finished: nothing more happens to it.
FINISHED = frozenset({State.COMPLETED, State.CANNOT_COMPLETE, State.CANCELLED})
OPEN = frozenset(State.values) - FINISHED
# Moves a technician on the crew makes in the field; everything else is the dispatcher's.
TECHNICIAN_MOVES = frozenset(
    {State.EN_ROUTE, State.ON_SITE, State.COMPLETED, State.CANNOT_COMPLETE, State.ON_HOLD}
)
# Assigned (someone is going): the states that need a crew.
ASSIGNED = frozenset({State.SCHEDULED, State.DISPATCHED, State.EN_ROUTE, State.ON_SITE})


def allowed_from(state: str) -> list[str]:
    return sorted(ALLOWED.get(state, frozenset()))


def is_allowed(source: str, target: str) -> bool:
    return target in ALLOWED.get(source, frozenset())
