"""Field service: technicians (skills, certifications, shifts, location) and work orders
(crew, state history)."""

from field_service.models.sla import (
    ServiceCalendar,
    SlaEvent,
    SlaEventKind,
    SlaMeasure,
    SlaPolicy,
    SlaTarget,
)
from field_service.models.technicians import (
    Certification,
    ShiftException,
    ShiftExceptionKind,
    ShiftPattern,
    Skill,
    TechnicianCertification,
    TechnicianProfile,
    TechnicianSkill,
)
from field_service.models.work_orders import (
    CrewMember,
    DayPlanProposal,
    DispatchRecord,
    MaintenancePlan,
    PlanKind,
    PlanState,
    Priority,
    Source,
    State,
    WorkOrder,
    WorkOrderKind,
    WorkOrderTransition,
)

__all__ = [
    "Certification",
    "CrewMember",
    "DayPlanProposal",
    "DispatchRecord",
    "MaintenancePlan",
    "PlanKind",
    "PlanState",
    "Priority",
    "ServiceCalendar",
    "ShiftException",
    "ShiftExceptionKind",
    "ShiftPattern",
    "Skill",
    "SlaEvent",
    "SlaEventKind",
    "SlaMeasure",
    "SlaPolicy",
    "SlaTarget",
    "Source",
    "State",
    "TechnicianCertification",
    "TechnicianProfile",
    "TechnicianSkill",
    "WorkOrder",
    "WorkOrderKind",
    "WorkOrderTransition",
]
