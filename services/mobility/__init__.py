"""The mobility support center's use cases (docs/domain.md, "Mobility support"): eligibility,
the fleet, bookings, assignment without double-booking, outcomes and their welfare effects,
recurring rides, dispatch, the board and the no-show review.

A ride is scoped by its resident's dong; the fleet is the district center's. Addresses, the
evidence of an eligibility and a no-show's reason are sealed under the resident's key; a
driver's name under a key of the driver's own. Policy (horizon, windows, cut-offs, buffers) is
config/mobility.json; travel times config/travel_times.json behind `TravelTimes`.
"""

from services.followups import business_calendar
from services.mobility.assignment import assign, busy_conflict
from services.mobility.bookings import Booked, book_ride, get_ride, list_rides
from services.mobility.common import (
    MatrixTravelTimes,
    TravelTimes,
    policy,
    seoul_today,
    travel_times,
)
from services.mobility.dispatch import DispatchResult, dispatch_day
from services.mobility.eligibility import EligibilityView, NotEligible, grant
from services.mobility.fleet import (
    DriverView,
    VehicleView,
    add_driver,
    add_vehicle,
    list_drivers,
    list_vehicles,
    update_driver,
    update_vehicle,
)
from services.mobility.outcomes import record_outcome
from services.mobility.records import RideView
from services.mobility.recurring import (
    ExceptionView,
    RecurringView,
    add_exception,
    create_recurring,
    get_recurring,
    materialize,
)
from services.mobility.review import Board, NoShowRider, board, no_show_review, resident_rides

__all__ = [
    "Board",
    "Booked",
    "DispatchResult",
    "DriverView",
    "EligibilityView",
    "ExceptionView",
    "MatrixTravelTimes",
    "NoShowRider",
    "NotEligible",
    "RecurringView",
    "RideView",
    "TravelTimes",
    "VehicleView",
    "add_driver",
    "add_exception",
    "add_vehicle",
    "assign",
    "board",
    "book_ride",
    "business_calendar",
    "busy_conflict",
    "create_recurring",
    "dispatch_day",
    "get_recurring",
    "get_ride",
    "grant",
    "list_drivers",
    "list_rides",
    "list_vehicles",
    "materialize",
    "no_show_review",
    "policy",
    "record_outcome",
    "resident_rides",
    "seoul_today",
    "travel_times",
    "update_driver",
    "update_vehicle",
]
