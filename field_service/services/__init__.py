"""Writes to field service. Each service runs in one transaction, validates, saves and
records the change in the change log."""

from field_service.services.technicians import technician_profile_set

__all__ = ["technician_profile_set"]
