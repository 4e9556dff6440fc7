"""The fictional demo district that `welfare demo seed` (and so `make run`) builds once.

`seed` registers staff, residents and Ongi history; `stories` holds the casework scripts as data;
`casework` plays them through the case and care use cases as the demo staff.
"""

from services.demo.seed import (
    DEMO_MARKER,
    DemoAccount,
    DemoDistrict,
    fictional_residents,
    fictional_rrn,
    seed_demo_district,
)

__all__ = [
    "DEMO_MARKER",
    "DemoAccount",
    "DemoDistrict",
    "fictional_residents",
    "fictional_rrn",
    "seed_demo_district",
]
