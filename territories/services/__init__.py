"""Writes to territories. Each service runs in one transaction."""

from territories.services.assignment import site_located
from territories.services.jobs import territory_job_start
from territories.services.maps import (
    membership_add,
    membership_end,
    territories_import,
    territory_model_clone,
    territory_model_create,
    territory_type_create,
)
from territories.services.realignment import (
    override_remove,
    override_set,
    realignment_preview,
    territory_model_activate,
    territory_model_assign,
)

__all__ = [
    "membership_add",
    "membership_end",
    "override_remove",
    "override_set",
    "realignment_preview",
    "site_located",
    "territories_import",
    "territory_job_start",
    "territory_model_activate",
    "territory_model_assign",
    "territory_model_clone",
    "territory_model_create",
    "territory_type_create",
]
