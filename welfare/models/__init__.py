"""The domain models; importing this package registers every table on `Base.metadata`."""

from welfare.models.actor import Actor, Role
from welfare.models.base import Base, UTCDateTime, utcnow
from welfare.models.reference import Dong
from welfare.models.staff import ApiToken, Staff, StaffDong, StaffSession
from welfare.models.system import SchedulerLease, SchedulerRun, SystemMarker

__all__ = [
    "Actor",
    "ApiToken",
    "Base",
    "Dong",
    "Role",
    "SchedulerLease",
    "SchedulerRun",
    "Staff",
    "StaffDong",
    "StaffSession",
    "SystemMarker",
    "UTCDateTime",
    "utcnow",
]
