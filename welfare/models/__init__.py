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
from welfare.models.reference import Dong
from welfare.models.system import SchedulerLease, SchedulerRun, SystemMarker

__all__ = [
    "AccessRightChange",
    "Actor",
    "AuditAction",
    "AuditCategory",
    "AuditChain",
    "AuditChainHead",
    "AuditEvent",
    "AuditOutcome",
    "Base",
    "Dong",
    "RightChange",
    "Role",
    "SchedulerLease",
    "SchedulerRun",
    "SystemMarker",
    "UTCDateTime",
    "utcnow",
]
