"""Bulk registration from CSV: validate every row, skip known residents, insert in batches.

The file has the columns `name,rrn,dong,phone,address,household_type` (UTF-8, with or without a
byte-order mark). A bad row is reported by its line number and the reason, never by its
content (it is personal data), and the import goes on. Residents already registered are found
through the RRN blind index, looked up a whole batch at a time, and skipped, as is a second row
with the same RRN inside the file; so running the same file again is safe. Each batch is one
transaction with one access record naming the residents it created.
"""

from __future__ import annotations

import csv
import gc
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TextIO, cast

from sqlalchemy import Table, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import access, residents, vault
from services.reference import known_dong_codes
from services.staff import get_staff_by_username
from welfare.errors import DomainError, Forbidden
from welfare.models import Actor, DataKey, HouseholdType, Resident
from welfare.models.bulk import copy_rows

COLUMNS: Final = ("name", "rrn", "dong", "phone", "address", "household_type")
REQUIRED: Final = ("name", "rrn", "dong")
DEFAULT_BATCH: Final = 1000
MAX_ADDRESS_LENGTH: Final = 300  # as the API's schema
ANALYZE_AFTER: Final = 1000  # residents imported in one run that call for fresh statistics
_EXTRA: Final = "\x00extra"  # DictReader's key for fields beyond the header
HOUSEHOLD_TYPES: Final = frozenset(t.value for t in HouseholdType)


class CsvFormatError(DomainError):
    """The file as a whole cannot be imported (not UTF-8, not CSV, columns missing)."""

    status = 422
    code = "csv_format"
    title = "CSV 파일 형식이 올바르지 않습니다 (malformed CSV file)"


class NotResidentDataStaff(Forbidden):
    """The staff member an import was to run as does not work with resident data."""

    code = "not_resident_data_staff"

    def __init__(self, username: str) -> None:
        super().__init__(
            f"{username} 계정은 주민 정보를 다루지 않습니다 "
            f"({username} does not work with resident data)"
        )
        self.username = username


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One record of the file: its first line number and its values, or why it cannot be read."""

    line: int
    values: dict[str, str | None]
    problem: str | None = None

    def __repr__(self) -> str:  # the values are personal data
        return f"ImportRow(line={self.line})"


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str


@dataclass(slots=True)
class ImportSummary:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    rows: int = 0
    imported: int = 0
    already_registered: int = 0
    bad: list[BadRow] = field(default_factory=list)
    resident_ids: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Valid:
    line: int
    identity: residents.Identity
    rrn_index: bytes
    dong: str
    address: str | None
    household_type: str | None


def importing_actor(session: Session, *, username: str | None) -> Actor:
    """Who an import acts as: the system, or a staff member who works with resident data.

    Admins and gateways are refused: they see no resident data, so they register none either.
    """
    if username is None:
        return Actor.system("import")
    actor = get_staff_by_username(session, username).actor()
    if actor.role not in access.RESIDENT_DATA_ROLES:
        raise NotResidentDataStaff(username)
    return actor


def read_csv(stream: TextIO) -> list[ImportRow]:
    """Every record of the file, each with the line it starts on (the header is line 1).

    Open the file with `encoding="utf-8-sig", newline=""` so a byte-order mark is dropped and
    quoted line breaks survive. A missing column in the header fails the whole file; a record
    with too few or too many fields is a bad row.
    """
    reader = csv.DictReader(stream, restkey=_EXTRA, restval=None)
    try:
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise CsvFormatError(
                f"필수 열이 없습니다: {', '.join(missing)} (missing columns: {', '.join(missing)}; "
                f"expected {','.join(COLUMNS)})"
            )
        reader.fieldnames = header
        rows: list[ImportRow] = []
        start = reader.line_num + 1
        for record in reader:
            rows.append(_row(start, record))
            start = reader.line_num + 1
    except UnicodeDecodeError:
        raise CsvFormatError(
            f"UTF-8 문서가 아닙니다 ({reader.line_num + 1}행 근처) "
            f"(not UTF-8, near line {reader.line_num + 1})"
        ) from None
    except csv.Error as exc:
        raise CsvFormatError(
            f"CSV 형식 오류 ({reader.line_num}행) (malformed CSV at line {reader.line_num}: "
            f"{type(exc).__name__})"
        ) from None
    return rows


def _row(line: int, record: dict[str | None, str | list[str] | None]) -> ImportRow:
    if record.get(_EXTRA):
        return ImportRow(line, {}, "열이 너무 많습니다 (more fields than columns)")
    absent = [c for c in COLUMNS if record.get(c) is None]
    if absent:
        return ImportRow(
            line, {}, f"열이 부족합니다: {', '.join(absent)} (missing fields: {', '.join(absent)})"
        )
    values: dict[str, str | None] = {}
    for column in COLUMNS:
        raw = record[column]
        text = raw.strip() if isinstance(raw, str) else ""
        values[column] = text or None
    empty = [c for c in REQUIRED if values[c] is None]
    if empty:
        return ImportRow(
            line,
            {},
            f"필수 항목이 비어 있습니다: {', '.join(empty)} (required field empty: "
            f"{', '.join(empty)})",
        )
    return ImportRow(line, values)


def import_residents(
    session: Session,
    *,
    actor: Actor,
    rows: Iterable[ImportRow],
    now: datetime,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Register every good row not registered yet; report the others. One transaction a batch.

    A dry run validates and looks up exactly as a real run, and writes nothing.
    """
    if batch_size < 1:
        raise ValueError("a batch holds at least one row")
    summary = ImportSummary(dry_run=dry_run)
    validator = _Validator(session, actor, now, summary)
    with _collector_passes_over_what_exists():
        for chunk in _batched(rows, batch_size):
            summary.rows += len(chunk)
            valid = [v for v in map(validator.check, chunk) if v is not None]
            if dry_run:
                fresh = _not_registered(session, valid)
                summary.already_registered += len(valid) - len(fresh)
                summary.imported += len(fresh)
                session.rollback()  # nothing to keep; ends the read (and SQLite's write lock)
            elif valid:
                _insert_batch(session, actor, valid, now, summary)
            if on_progress is not None:
                on_progress(len(chunk))
    if summary.imported >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        # Fresh planner statistics at once: until autovacuum gets round to it, PostgreSQL may
        # plan searches on the small table it last saw and pass over the blind indexes.
        session.execute(text("ANALYZE residents, data_keys"))
        session.commit()
    return summary


@contextmanager
def _collector_passes_over_what_exists() -> Iterator[None]:
    """Keep the objects alive before the import (the rows read from the file, two objects
    each, and the app) out of the cycle collector's sight while it runs.

    The import makes many objects a row (keys, contexts, row dicts), so the collector runs
    often, and each full pass walked every row of the file again: up to half the import's
    time. `gc.freeze` moves what exists to a generation the collector skips; what the import
    makes is collected as usual, and `gc.unfreeze` hands the rest back at the end.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Validator:
    """Checks rows one by one, remembering which RRNs the file already had."""

    def __init__(self, session: Session, actor: Actor, now: datetime, summary: ImportSummary):
        self.session = session
        self.actor = actor
        self.today = now.date()
        self.summary = summary
        self.known = known_dong_codes(session)
        self.indexer = vault.indexer(session)
        self.first_line: dict[bytes, int] = {}  # RRN index -> the line it first appeared on

    def check(self, row: ImportRow) -> _Valid | None:
        if row.problem is not None:
            self._bad(row.line, row.problem)
            return None
        values = row.values
        errors: dict[str, list[str]] = {}
        identity = residents.validate_identity(
            name=values["name"] or "",
            rrn=values["rrn"] or "",
            phone=values["phone"],
            today=self.today,
            errors=errors,
        )
        dong = values["dong"] or ""
        residents.check_dong(self.session, self.actor, dong, errors, known=self.known)
        household_type = values["household_type"]
        if household_type is not None and household_type not in HOUSEHOLD_TYPES:
            errors["household_type"] = [
                f"{', '.join(sorted(HOUSEHOLD_TYPES))} 중 하나 (unknown household type)"
            ]
        address = values["address"]
        if address is not None and len(address) > MAX_ADDRESS_LENGTH:
            errors["address"] = [
                f"{MAX_ADDRESS_LENGTH}자 이하 (at most {MAX_ADDRESS_LENGTH} characters)"
            ]
        if errors or identity is None:
            self._bad(
                row.line, "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
            )
            return None
        rrn_index = self.indexer.full(residents.RRN_INDEX, identity.rrn.digits)
        earlier = self.first_line.setdefault(rrn_index, row.line)
        if earlier != row.line:
            self._bad(
                row.line,
                f"rrn: 파일 안에서 {earlier}행과 같은 주민등록번호입니다 "
                f"(duplicate RRN in this file, first on line {earlier})",
            )
            return None
        return _Valid(row.line, identity, rrn_index, dong, address, household_type)

    def _bad(self, line: int, reason: str) -> None:
        self.summary.bad.append(BadRow(line, reason))


def _not_registered(session: Session, valid: Sequence[_Valid]) -> list[_Valid]:
    """The rows whose RRN is not in the registry yet: one indexed query for the whole batch."""
    if not valid:
        return []
    existing = set(
        session.scalars(
            select(Resident.rrn_index).where(Resident.rrn_index.in_([v.rrn_index for v in valid]))
        )
    )
    return [v for v in valid if v.rrn_index not in existing]


def _insert_batch(
    session: Session,
    actor: Actor,
    valid: Sequence[_Valid],
    now: datetime,
    summary: ImportSummary,
) -> None:
    """Insert one batch with two bulk INSERTs (data keys, residents) and one record.

    The rows are exactly what `residents.build_resident` makes (`residents.resident_row`);
    skipping the ORM's unit of work is what makes the bulk path fast.
    """
    # A resident registered by someone else between our lookup and our insert makes the
    # unique RRN index refuse the batch; look again and retry once without them.
    for attempt in (1, 2):
        fresh = _not_registered(session, valid)
        keys: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for v in fresh:
            resident_id = uuid.uuid4()
            key, key_row = vault.data_key_row(session, resident_id, now)
            keys.append(key_row)
            rows.append(
                residents.resident_row(
                    session,
                    resident_id=resident_id,
                    key=key,
                    identity=v.identity,
                    rrn_index=v.rrn_index,
                    dong=v.dong,
                    address=v.address,
                    household_type=v.household_type,
                    notes=None,
                    now=now,
                )
            )
        try:
            # welfare.models.bulk: one statement per table (COPY on PostgreSQL, the driver's
            # executemany on SQLite), not SQLAlchemy's per-row parameter handling.
            copy_rows(session, cast(Table, DataKey.__table__), keys)
            copy_rows(session, cast(Table, Resident.__table__), rows)
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise
            continue
        ids = [row["id"] for row in rows]
        if ids:
            access.record(session, actor=actor, action="create", resident_ids=ids)
        session.commit()
        summary.imported += len(rows)
        summary.already_registered += len(valid) - len(fresh)
        summary.resident_ids.extend(ids)
        return


def _batched(rows: Iterable[ImportRow], size: int) -> Iterator[list[ImportRow]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
