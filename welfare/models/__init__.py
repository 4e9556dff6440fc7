"""The domain models; importing this package registers every table on `Base.metadata`."""

from welfare.models.actor import Actor, Role
from welfare.models.base import Base, UTCDateTime, utcnow
from welfare.models.reference import Dong
from welfare.models.system import SchedulerLease, SchedulerRun, SystemMarker

__all__ = [
    "Actor",
    "Base",
    "Dong",
    "Role",
    "SchedulerLease",
    "SchedulerRun",
    "SystemMarker",
    "UTCDateTime",
    "utcnow",
]
