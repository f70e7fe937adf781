"""Telling technicians about their jobs: a push notification (sent by the outbox worker) and
a numbered notice on their device sockets, both written in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable

from field_service.models import WorkOrder
from server.notifications import device_notice, notify, reserve_notice_numbers


def tell_technicians(work_order: WorkOrder, user_ids: Iterable[int], kind: str, title: str) -> None:
    """``kind`` (``job.assigned``, ``job.rescheduled``, ``job.cancelled``, ``job.unassigned``)
    to each technician in ``user_ids``. With a ``title`` the push is a visible alert; without,
    a data message that only makes the app pull. One collapse key per job: a burst of changes
    to a job shows as one alert."""
    when = f"{work_order.scheduled_start:%a %d %b %H:%M}" if work_order.scheduled_start else ""
    data = {"work_order": work_order.pk, "state": work_order.state}
    body = f"{work_order.get_kind_display()} at {work_order.site.name}, {when}".strip(", ")
    user_ids = sorted(user_ids)
    reserve_notice_numbers(user_ids)
    for user_id in user_ids:
        notify(
            user_id=user_id,
            kind=kind,
            title=title,
            body=body if title else "",
            data=data,
            collapse_key=f"job-{work_order.pk}",
        )
        device_notice(user_id=user_id, kind=kind, payload={**data, "title": title, "body": body})
