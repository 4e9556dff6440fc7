"""Each program's follow-up rules for the tick, one module per program (see `base`).

Adding a program's rule: write `schedulers/rules/<program>.py` declaring a `FollowUpRule`, and add
it to `RULES` below. The tick (`schedulers/followups.py`) runs every rule in this order, in one
transaction at one `as_of`; docs/adding-a-program.md walks through it.
"""

from schedulers.rules.base import FollowUpRule, run_rule
from schedulers.rules.care_center import CARE_RESPONSE_OVERDUE
from schedulers.rules.dispatch import DISPATCH_OVERDUE
from schedulers.rules.hygiene import HYGIENE_VISIT_MISSED
from schedulers.rules.mobility import ELIGIBILITY_EXPIRING
from schedulers.rules.ongi import CONTACT_LAPSED
from schedulers.rules.partners import PARTNER_UNANSWERED

RULES: tuple[FollowUpRule, ...] = (
    CONTACT_LAPSED,
    CARE_RESPONSE_OVERDUE,
    ELIGIBILITY_EXPIRING,
    PARTNER_UNANSWERED,
    DISPATCH_OVERDUE,
    HYGIENE_VISIT_MISSED,
)

__all__ = ["RULES", "FollowUpRule", "run_rule"]
