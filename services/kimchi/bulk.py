"""Allocating many households at once: by criteria, in priority order until the stock runs out,
and from an agency's spreadsheet (`welfare kimchi import`).

Both hold the campaign row locked for each batch (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's
BEGIN IMMEDIATE already serializes writers), so a single allocation cannot slip between the
lookup of households already served and the insert; the household's unique index stays the
guarantee. Rows are inserted with one multi-row INSERT a batch and the stock taken with one
UPDATE, which is what lets 10,000 households cost a few times plain inserts, not a use case
each. Every batch leaves one access record per thousand residents it allocated.

Priority: Ongi risk level (high, medium, low, then not enrolled), then the oldest first (birth
year), then the resident id, so the same criteria on the same data allocate the same people.
"""

from __future__ import annotations

import csv
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TextIO, cast

from sqlalchemy import ColumnElement, Table, and_, case, exists, insert, or_, select
from sqlalchemy.orm import Session

from services import access, ongi, residents, vault
from services.kimchi.allocations import check_agency, out_of_stock, take_stock
from services.kimchi.records import alone_key, campaign_dongs, live_allocation, load_campaign
from services.resident_import import CsvFormatError
from services.residents.records import household_index
from services.residents.registration import seoul_today
from welfare.errors import InvalidInput
from welfare.identity import IdentityError, parse_rrn
from welfare.models import (
    Actor,
    AllocationStatus,
    HouseholdType,
    KimchiAllocation,
    KimchiCampaign,
    OngiEnrollment,
    Resident,
    ResidentStatus,
)
from welfare.models.base import in_literals

RECORD_CHUNK: Final = 1000  # residents named by one access record
DEFAULT_BATCH: Final = 1000
MAX_HOUSEHOLDS: Final = 100_000
UNRANKED: Final = 99


@dataclass(frozen=True, slots=True)
class Candidate:
    resident_id: uuid.UUID
    dong: str
    household_index: bytes | None
    address_enc: bytes | None


@dataclass(slots=True)
class BulkResult:
    """What an allocation by criteria did (or, in a dry run, would do)."""

    dry_run: bool
    candidates: int = 0
    allocated: int = 0
    same_household: int = 0  # a second resident of a household allocated in this run
    stock_exhausted: bool = False
    remaining_stock: int = 0
    allocation_ids: list[uuid.UUID] = field(default_factory=list)


def _rank() -> ColumnElement[int]:
    levels = list(ongi.risk_levels())  # the file's order: highest risk first
    return case(
        *((OngiEnrollment.risk_level == code, n) for n, code in enumerate(levels)),
        else_=UNRANKED,
    )


def _not_allocated(campaign_id: uuid.UUID) -> ColumnElement[bool]:
    """The resident's household has no live allocation in the campaign: neither the resident
    (an index on `resident_id`) nor anyone at the address (the household's unique index)."""
    by_resident = exists().where(
        KimchiAllocation.resident_id == Resident.id,
        KimchiAllocation.campaign_id == campaign_id,
        live_allocation(),
    )
    by_household = exists().where(
        KimchiAllocation.campaign_id == campaign_id,
        KimchiAllocation.household_key == Resident.household_index,
        live_allocation(),
    )
    return and_(~by_resident, or_(Resident.household_index.is_(None), ~by_household))


def _not_served(campaign_id: uuid.UUID) -> ColumnElement[bool]:
    """The resident's household received no box in that (earlier) campaign."""
    delivered = KimchiAllocation.status == AllocationStatus.DELIVERED.value
    by_resident = exists().where(
        KimchiAllocation.resident_id == Resident.id,
        KimchiAllocation.campaign_id == campaign_id,
        delivered,
    )
    by_household = exists().where(
        KimchiAllocation.campaign_id == campaign_id,
        KimchiAllocation.household_key == Resident.household_index,
        live_allocation(),
        delivered,
    )
    return and_(~by_resident, or_(Resident.household_index.is_(None), ~by_household))


def _check_criteria(
    session: Session,
    actor: Actor,
    campaign: KimchiCampaign,
    *,
    dongs: Sequence[str] | None,
    risk_levels: Sequence[str] | None,
    household_types: Sequence[str] | None,
    not_served_in: uuid.UUID | None,
) -> list[str]:
    errors: dict[str, list[str]] = {}
    covered = set(campaign_dongs(session, campaign.id))
    wanted = sorted(set(dongs)) if dongs else sorted(covered)
    if not set(wanted) <= covered:
        errors["dongs"] = ["캠페인이 다루지 않는 동입니다 (a dong the campaign does not cover)"]
    elif not actor.is_system and not set(wanted) & set(actor.dongs):
        errors["dongs"] = ["담당 행정동이 아닙니다 (dong outside your scope)"]
    if risk_levels and not set(risk_levels) <= {*ongi.risk_levels(), "none"}:
        errors["risk_levels"] = [
            f"{', '.join([*ongi.risk_levels(), 'none'])} 중 하나 (unknown risk level)"
        ]
    if household_types and not set(household_types) <= {t.value for t in HouseholdType}:
        errors["household_types"] = ["알 수 없는 가구 유형입니다 (unknown household type)"]
    if not_served_in is not None and not_served_in == campaign.id:
        errors["not_served_in"] = ["이전 캠페인을 고르세요 (choose an earlier campaign)"]
    if errors:
        raise InvalidInput(errors)
    if not_served_in is not None:
        load_campaign(session, actor, not_served_in)
    return wanted


def allocate_by_criteria(
    session: Session,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    agency: str,
    now: datetime,
    dongs: Sequence[str] | None = None,
    risk_levels: Sequence[str] | None = None,
    household_types: Sequence[str] | None = None,
    not_served_in: uuid.UUID | None = None,
    limit: int | None = None,
    dry_run: bool = False,
) -> BulkResult:
    """Allocate one box to each household matching the criteria, highest priority first, until
    the stock (or `limit`) runs out. `risk_levels` may include `none` (not enrolled in Ongi)."""
    errors: dict[str, list[str]] = {}
    agency = check_agency(agency, errors)
    if limit is not None and not 1 <= limit <= MAX_HOUSEHOLDS:
        errors["limit"] = [f"1~{MAX_HOUSEHOLDS} 사이여야 합니다 (between 1 and {MAX_HOUSEHOLDS})"]
    if errors:
        raise InvalidInput(errors)
    campaign = load_campaign(session, actor, campaign_id, for_update=True)
    campaign.ensure_open()
    wanted = _check_criteria(
        session,
        actor,
        campaign,
        dongs=dongs,
        risk_levels=risk_levels,
        household_types=household_types,
        not_served_in=not_served_in,
    )
    session.refresh(campaign)  # the stock as of the lock
    stock = campaign.box_count - campaign.allocated_boxes
    room = min(stock, limit) if limit is not None else stock
    stmt = (
        select(Resident.id, Resident.dong_code, Resident.household_index, Resident.address_enc)
        .outerjoin(
            OngiEnrollment,
            and_(
                OngiEnrollment.resident_id == Resident.id,
                in_literals(OngiEnrollment.status, ongi.LIVE_STATUSES),
            ),
        )
        .where(
            Resident.status == ResidentStatus.ACTIVE.value,
            Resident.dong_code.in_(wanted),
            access.dong_scope(actor, Resident.dong_code),
            _not_allocated(campaign.id),
        )
        .order_by(_rank(), Resident.birth_year, Resident.id)
    )
    if household_types:
        stmt = stmt.where(Resident.household_type.in_(sorted(set(household_types))))
    if risk_levels:
        levels = sorted(set(risk_levels) - {"none"})
        chosen = [OngiEnrollment.risk_level.in_(levels)] if levels else []
        if "none" in risk_levels:
            chosen.append(OngiEnrollment.id.is_(None))
        stmt = stmt.where(or_(*chosen))
    if not_served_in is not None:
        stmt = stmt.where(_not_served(not_served_in))
    result = BulkResult(dry_run=dry_run)
    rows: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for found in session.execute(stmt):
        result.candidates += 1
        candidate = Candidate(found[0], found[1], found[2], found[3])
        key = _key(session, actor, candidate)
        if key in seen:
            result.same_household += 1
            continue
        if len(rows) >= room:
            result.stock_exhausted = room == stock
            continue
        seen.add(key)
        rows.append(_row(campaign.id, candidate, key=key, agency=agency, actor=actor, now=now))
    result.allocated = len(rows)
    result.remaining_stock = stock - len(rows)
    result.allocation_ids = [r["id"] for r in rows]
    if dry_run or not rows:
        session.rollback()
        return result
    _insert(session, actor, campaign.id, rows)
    session.commit()
    return result


def _key(session: Session, actor: Actor, candidate: Candidate) -> bytes:
    """The candidate's household key; a resident registered before the household index had one
    gets it from the sealed address (and keeps it)."""
    if candidate.household_index is not None:
        return candidate.household_index
    if candidate.address_enc is not None:
        address = vault.open_value(
            session,
            actor=actor,
            subject_id=candidate.resident_id,
            table=residents.TABLE,
            column="address",
            row_id=candidate.resident_id,
            blob=candidate.address_enc,
        )
        index = household_index(session, address) if address else None
        if index is not None:
            resident = session.get(Resident, candidate.resident_id)
            if resident is not None:
                resident.household_index = index
            return index
    return alone_key(session, candidate.resident_id)


def _row(
    campaign_id: uuid.UUID,
    candidate: Candidate,
    *,
    key: bytes,
    agency: str,
    actor: Actor,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "campaign_id": campaign_id,
        "resident_id": candidate.resident_id,
        "dong_code": candidate.dong,
        "household_key": key,
        "agency": agency,
        "boxes": 1,
        "status": AllocationStatus.ALLOCATED.value,
        "allocated_at": now,
        "allocated_by": actor.staff_id,
        "delivered_at": None,
        "ended_reason": None,
        "updated_at": now,
        "version": 1,
    }


def _insert(
    session: Session, actor: Actor, campaign_id: uuid.UUID, rows: Sequence[dict[str, Any]]
) -> None:
    """One multi-row INSERT, the stock taken at once, one access record a thousand residents."""
    take_stock(session, campaign_id, sum(r["boxes"] for r in rows))
    session.execute(insert(cast(Table, KimchiAllocation.__table__)), list(rows))
    ids = [r["resident_id"] for r in rows]
    for start in range(0, len(ids), RECORD_CHUNK):
        access.record(
            session, actor=actor, action="create", resident_ids=ids[start : start + RECORD_CHUNK]
        )


# --- the spreadsheet import -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Skipped:
    line: int
    reason: str


@dataclass(slots=True)
class ImportResult:
    dry_run: bool
    rows: int = 0
    allocated: int = 0
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Line:
    line: int
    rrn: str | None
    boxes: int
    problem: str | None = None

    def __repr__(self) -> str:  # the RRN is personal data
        return f"_Line(line={self.line})"


def read_csv(stream: TextIO) -> list[_Line]:
    """The file's records with their line numbers: a column `rrn` (required) and `boxes`
    (optional, 1 by default); other columns (an agency's name or notes) are ignored."""
    reader = csv.DictReader(stream)
    try:
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
        if "rrn" not in header:
            raise CsvFormatError("필수 열이 없습니다: rrn (missing column: rrn)")
        reader.fieldnames = header
        lines: list[_Line] = []
        start = reader.line_num + 1
        for record in reader:
            lines.append(_line(start, record))
            start = reader.line_num + 1
    except UnicodeDecodeError:
        raise CsvFormatError("UTF-8 문서가 아닙니다 (not UTF-8)") from None
    except csv.Error as exc:
        raise CsvFormatError(
            f"CSV 형식 오류 ({reader.line_num}행) (malformed CSV at line {reader.line_num}: "
            f"{type(exc).__name__})"
        ) from None
    return lines


def _line(line: int, record: dict[str | None, Any]) -> _Line:
    rrn = record.get("rrn")
    rrn = rrn.strip() if isinstance(rrn, str) else ""
    if not rrn:
        return _Line(line, None, 1, "rrn: 주민등록번호가 비어 있습니다 (RRN empty)")
    raw_boxes = record.get("boxes")
    raw_boxes = raw_boxes.strip() if isinstance(raw_boxes, str) else ""
    if not raw_boxes:
        return _Line(line, rrn, 1)
    if not raw_boxes.isdigit() or not 1 <= int(raw_boxes) <= 50:
        return _Line(line, None, 1, "boxes: 1~50 사이여야 합니다 (between 1 and 50)")
    return _Line(line, rrn, int(raw_boxes))


def import_allocations(
    session: Session,
    *,
    actor: Actor,
    campaign_id: uuid.UUID,
    agency: str,
    lines: Iterable[_Line],
    now: datetime,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    on_progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Allocate the residents an agency listed, one transaction a batch; each line skipped is
    reported by number and reason (unknown resident, household already allocated and by which
    agency, out of stock), never by its content. Running the same file again changes nothing:
    every household is then already allocated."""
    errors: dict[str, list[str]] = {}
    agency = check_agency(agency, errors)
    if errors:
        raise InvalidInput(errors)
    run = _ImportRun(session, actor, agency, now, ImportResult(dry_run=dry_run))
    for chunk in _batched(lines, batch_size):
        run.result.rows += len(chunk)
        campaign = load_campaign(session, actor, campaign_id, for_update=True)
        campaign.ensure_open()
        session.refresh(campaign)
        rows = run.batch(campaign, chunk)
        run.result.allocated += len(rows)
        if dry_run:
            run.spent += sum(r["boxes"] for r in rows)
            session.rollback()
        else:
            if rows:
                _insert(session, actor, campaign.id, rows)
            session.commit()
        if on_progress is not None:
            on_progress(len(chunk))
    return run.result


class _ImportRun:
    """One import's state across its batches: the households it served, the boxes a dry run
    would have taken, and what it skipped."""

    def __init__(
        self, session: Session, actor: Actor, agency: str, now: datetime, result: ImportResult
    ) -> None:
        self.session = session
        self.actor = actor
        self.agency = agency
        self.now = now
        self.result = result
        self.indexer = vault.indexer(session)
        self.served: dict[bytes, str] = {}  # household -> agency, within this run
        self.spent = 0

    def skip(self, line: int, reason: str) -> None:
        self.result.skipped.append(Skipped(line, reason))

    def batch(self, campaign: KimchiCampaign, chunk: Sequence[_Line]) -> list[dict[str, Any]]:
        covered = set(campaign_dongs(self.session, campaign.id))
        stock = campaign.box_count - campaign.allocated_boxes - self.spent
        parsed: list[tuple[_Line, bytes]] = []
        today = seoul_today(self.now)
        for item in chunk:
            if item.problem is not None or item.rrn is None:
                self.skip(item.line, item.problem or "")
                continue
            try:
                digits = parse_rrn(item.rrn, today=today).digits
            except IdentityError as exc:
                self.skip(item.line, f"rrn: {exc.message}")
                continue
            parsed.append((item, self.indexer.full(residents.RRN_INDEX, digits)))
        found = _residents_by_rrn(self.session, self.actor, [index for _, index in parsed])
        keys = {r.id: _key(self.session, self.actor, _candidate(r)) for r in found.values()}
        existing = _allocated_households(self.session, campaign.id, set(keys.values()))
        rows: list[dict[str, Any]] = []
        for item, index in parsed:
            resident = found.get(index)
            reason = self.refusal(resident, covered)
            if reason is not None or resident is None:
                self.skip(item.line, reason or "")
                continue
            key = keys[resident.id]
            holder = existing.get(key) or self.served.get(key)
            if holder is not None:
                self.skip(
                    item.line,
                    f"이미 배분된 가구입니다: {holder} (household already allocated by {holder})",
                )
                continue
            if item.boxes > stock:
                self.skip(item.line, out_of_stock().detail)
                continue
            stock -= item.boxes
            self.served[key] = self.agency
            row = _row(
                campaign.id,
                _candidate(resident),
                key=key,
                agency=self.agency,
                actor=self.actor,
                now=self.now,
            )
            row["boxes"] = item.boxes
            rows.append(row)
        return rows

    @staticmethod
    def refusal(resident: _Listed | None, covered: set[str]) -> str | None:
        if resident is None:
            return "알 수 없는 주민입니다 (unknown resident)"
        if resident.status != ResidentStatus.ACTIVE:
            return "전출했거나 사망한 주민입니다 (resident not active)"
        if resident.dong_code not in covered:
            return "캠페인이 다루지 않는 동입니다 (dong not in the campaign)"
        return None


def _candidate(resident: _Listed) -> Candidate:
    return Candidate(
        resident.id, resident.dong_code, resident.household_index, resident.address_enc
    )


@dataclass(frozen=True, slots=True)
class _Listed:
    """A resident an agency listed, as much as the import needs (no ORM object a line)."""

    id: uuid.UUID
    dong_code: str
    status: str
    household_index: bytes | None
    address_enc: bytes | None


def _residents_by_rrn(
    session: Session, actor: Actor, indexes: Sequence[bytes]
) -> dict[bytes, _Listed]:
    """The residents of the caller's scope with these RRNs (one query a batch); a resident of
    another dong reads as unknown."""
    if not indexes:
        return {}
    found = session.execute(
        select(
            Resident.rrn_index,
            Resident.id,
            Resident.dong_code,
            Resident.status,
            Resident.household_index,
            Resident.address_enc,
        ).where(Resident.rrn_index.in_(list(indexes)), access.dong_scope(actor, Resident.dong_code))
    )
    return {row[0]: _Listed(*row[1:]) for row in found if row[0] is not None}


def _allocated_households(
    session: Session, campaign_id: uuid.UUID, keys: set[bytes]
) -> dict[bytes, str]:
    """The households among `keys` with a live allocation in the campaign, and by which agency."""
    if not keys:
        return {}
    return {
        key: agency
        for key, agency in session.execute(
            select(KimchiAllocation.household_key, KimchiAllocation.agency).where(
                KimchiAllocation.campaign_id == campaign_id,
                KimchiAllocation.household_key.in_(sorted(keys)),
                live_allocation(),
            )
        )
    }


def _batched(lines: Iterable[_Line], size: int) -> Iterator[list[_Line]]:
    iterator = iter(lines)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
