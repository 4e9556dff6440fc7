"""A resident who moves within the district takes every row about them to the new dong's team:
each table that holds a `resident_id` and the `dong_code` it is scoped by must be moved by
`follow_to_dong`, or a new program's rows would stay behind, visible to the old dong's staff
and hidden from the new one's (docs/adding-a-program.md, step 1)."""

from __future__ import annotations

from services.residents import changes
from welfare.models import Base, CareRequest, FollowUp

# Moved by rules of their own in follow_to_dong: an open care request goes with the resident
# (a closed one stays with the team that handled it), and a follow-up goes like its subject.
MOVED_BY_OWN_RULE = {CareRequest.__tablename__, FollowUp.__tablename__}


def test_every_table_scoped_by_a_residents_dong_follows_the_resident() -> None:
    scoped = {
        table.name
        for table in Base.metadata.tables.values()
        if {"resident_id", "dong_code"} <= set(table.c.keys())
    }
    followed = {model.__tablename__ for model in changes.FOLLOW_RESIDENT}
    assert scoped - MOVED_BY_OWN_RULE == followed, (
        "add the new table to FOLLOW_RESIDENT in services/residents/changes.py "
        "(and decide what end_programs does with its rows)"
    )


def test_the_check_sees_the_tables_it_guards() -> None:
    """The comparison above is not vacuous: it finds the programs' tables by their columns."""
    scoped = {
        table.name
        for table in Base.metadata.tables.values()
        if {"resident_id", "dong_code"} <= set(table.c.keys())
    }
    assert {"contacts", "dispatches", "hygiene_visits", "mobility_rides"} <= scoped
    assert "case_notes" not in scoped  # scoped through its case, not a dong of its own
