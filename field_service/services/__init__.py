"""Writes to field service. Each service runs in one transaction, validates, saves and
records the change in the change log."""

from field_service.services.dispatch import work_order_assign
from field_service.services.technicians import technician_locate, technician_profile_set
from field_service.services.work_orders import (
    work_order_create,
    work_order_transition,
    work_orders_follow_sites,
)

__all__ = [
    "technician_locate",
    "technician_profile_set",
    "work_order_assign",
    "work_order_create",
    "work_order_transition",
    "work_orders_follow_sites",
]
