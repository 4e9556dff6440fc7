"""The domain models; importing this package registers every table on `Base.metadata`."""

from welfare.models.actor import Actor, Role
from welfare.models.audit import (
    AccessRightChange,
    AuditAction,
    AuditCategory,
    AuditChain,
    AuditChainHead,
    AuditEvent,
    AuditOutcome,
    RightChange,
)
from welfare.models.base import Base, UTCDateTime, utcnow
from welfare.models.care import (
    CareChannel,
    CareOutcome,
    CareRequest,
    CareRequestEvent,
    CareState,
    CareType,
    Urgency,
)
from welfare.models.case import (
    Case,
    CaseEvent,
    CaseNote,
    CaseNoteKind,
    CasePriority,
    Program,
    Referral,
)
from welfare.models.followup import (
    ExtraHoliday,
    FollowUp,
    FollowUpEvent,
    FollowUpReason,
    FollowUpState,
    OutboxMessage,
)
from welfare.models.ongi import (
    Channel,
    Contact,
    EnrollmentStatus,
    OngiEnrollment,
    Outcome,
    SignalSource,
)
from welfare.models.reference import Dong
from welfare.models.resident import DataKey, HouseholdType, Resident, ResidentStatus
from welfare.models.staff import ApiToken, Staff, StaffDong, StaffSession, TokenIssuer
from welfare.models.system import SchedulerLease, SchedulerRun, SystemMarker

__all__ = [
    "AccessRightChange",
    "Actor",
    "ApiToken",
    "AuditAction",
    "AuditCategory",
    "AuditChain",
    "AuditChainHead",
    "AuditEvent",
    "AuditOutcome",
    "Base",
    "CareChannel",
    "CareOutcome",
    "CareRequest",
    "CareRequestEvent",
    "CareState",
    "CareType",
    "Case",
    "CaseEvent",
    "CaseNote",
    "CaseNoteKind",
    "CasePriority",
    "Channel",
    "Contact",
    "DataKey",
    "Dong",
    "EnrollmentStatus",
    "ExtraHoliday",
    "FollowUp",
    "FollowUpEvent",
    "FollowUpReason",
    "FollowUpState",
    "HouseholdType",
    "OngiEnrollment",
    "OutboxMessage",
    "Outcome",
    "Program",
    "Referral",
    "Resident",
    "ResidentStatus",
    "RightChange",
    "Role",
    "SchedulerLease",
    "SchedulerRun",
    "SignalSource",
    "Staff",
    "StaffDong",
    "StaffSession",
    "SystemMarker",
    "TokenIssuer",
    "UTCDateTime",
    "Urgency",
    "utcnow",
]
