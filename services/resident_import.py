"""Bulk registration from CSV: validate every row, skip known residents, insert in batches.

The file has the columns `name,rrn,dong,phone,address,household_type` (UTF-8, with or without a
byte-order mark). A bad row is reported by its line number and the reason, never by its
content (it is personal data), and the import goes on. Residents already registered are found
through the RRN blind index, looked up a whole batch at a time, and skipped, as is a second row
with the same RRN inside the file; so running the same file again is safe. Each batch is one
transaction with one access record naming the residents it created.

With `jobs` above 1 the rows are checked and sealed in that many worker processes, a batch
each, while this process looks up, inserts and commits the batches before them, in file order:
the same checks, seals, blind indexes, transactions and access records, and the same report
(see `_import_pipelined`).
"""

from __future__ import annotations

import csv
import gc
import itertools
import multiprocessing
import os
import sys
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, TextIO, TypeVar, cast

from sqlalchemy import Integer, LargeBinary, Table, bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import access, key_retirement, residents, vault
from services.reference import known_dong_codes
from services.residents.registration import seoul_today
from services.staff import get_staff_by_username
from welfare.crypto.keyring import Keyring
from welfare.database import KEYRING_INFO, session_keyring
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
_V = TypeVar("_V", bound="_Valid | _Sealed")


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


@dataclass(frozen=True, slots=True)
class _Sealed:
    """A valid row made ready in a worker: its data key's row and its resident row."""

    line: int
    rrn_index: bytes
    key_row: dict[str, Any]
    row: dict[str, Any]

    def __repr__(self) -> str:
        return f"_Sealed(line={self.line})"


def default_jobs() -> int:
    """The CPUs this process may run on: `welfare residents import --jobs`'s default."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
    jobs: int = 1,
) -> ImportSummary:
    """Register every good row not registered yet; report the others. One transaction a batch.

    A dry run validates and looks up exactly as a real run, and writes nothing. With `jobs`
    above 1 (and not a dry run, which seals nothing), rows are checked and sealed in `jobs`
    worker processes while this one writes (`_import_pipelined`); the outcome is the same.
    """
    if batch_size < 1:
        raise ValueError("a batch holds at least one row")
    if jobs < 1:
        raise ValueError("an import runs at least one job")
    summary = ImportSummary(dry_run=dry_run)
    validator = _Validator(session, actor, now, summary)
    with _collector_passes_over_what_exists():
        if jobs > 1 and not dry_run and _can_fork():
            _import_pipelined(
                session,
                actor=actor,
                rows=rows,
                now=now,
                batch_size=batch_size,
                jobs=jobs,
                validator=validator,
                on_progress=on_progress,
            )
        else:
            _import_here(
                session,
                actor=actor,
                rows=rows,
                now=now,
                dry_run=dry_run,
                batch_size=batch_size,
                validator=validator,
                on_progress=on_progress,
            )
    if summary.imported >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        # Fresh planner statistics at once: until autovacuum gets round to it, PostgreSQL may
        # plan searches on the small table it last saw and pass over the blind indexes.
        session.execute(text("ANALYZE residents, data_keys"))
        session.commit()
    return summary


def _import_here(
    session: Session,
    *,
    actor: Actor,
    rows: Iterable[ImportRow],
    now: datetime,
    dry_run: bool,
    batch_size: int,
    validator: _Validator,
    on_progress: Callable[[int], None] | None,
) -> None:
    """Every batch checked, sealed and written in this process."""
    summary = validator.summary
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


def _can_fork() -> bool:
    """Workers are forked, which is safe on Linux; macOS offers fork but system libraries
    may crash in a forked child, so the import runs in one process there."""
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def _import_pipelined(
    session: Session,
    *,
    actor: Actor,
    rows: Iterable[ImportRow],
    now: datetime,
    batch_size: int,
    jobs: int,
    validator: _Validator,
    on_progress: Callable[[int], None] | None,
) -> None:
    """Batches checked and sealed in `jobs` worker processes, written here in file order.

    A worker gets a batch of rows and returns, row by row, why it is bad or its data key's row
    and resident row, made by the same code as here (`_Validator.checked`, `_sealed_rows`):
    every check, seal and blind index. What needs the whole file or the database stays here:
    a repeated RRN is reported against the line it first appeared on (the rows come back in
    file order), known residents are looked up and skipped, and each batch is inserted and
    committed with its access record as `_import_here` does, while the workers seal the next
    batches (at most two a worker ahead, so memory stays bounded). Bad rows are reported by
    line, in file order. Workers see no database: they are forked after the cycle collector
    was told to pass over everything alive (`_collector_passes_over_what_exists`), so nothing
    of this process's connections is touched or freed in them, and they exit without
    finalizers. Personal data goes to them and sealed rows come back through pipes between
    this process and its children; data keys stay in the workers, wrapped.
    """
    summary = validator.summary
    context = multiprocessing.get_context("fork")
    setup = (session_keyring(session), actor, validator.known, validator.today, now)
    chunks = _batched(rows, batch_size)
    ahead: deque[tuple[int, Future[_Prepared]]] = deque()
    # A worker that dies (killed, out of memory) fails the import with BrokenProcessPool rather
    # than leaving it waiting for a batch that never comes; the batches before it are committed,
    # and running the file again skips them.
    workers = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=setup
    )

    def submit() -> None:
        chunk = next(chunks, None)
        if chunk is not None:
            sent = [(r.line, r.problem, *(r.values.get(c) for c in COLUMNS)) for r in chunk]
            ahead.append((len(chunk), workers.submit(_prepare, sent)))

    try:
        for _ in range(2 * jobs):
            submit()
        while ahead:
            size, pending = ahead.popleft()
            key_names, row_names, prepared = pending.result()
            submit()
            summary.rows += size
            valid: list[_Sealed] = []
            for item in prepared:
                if len(item) == 2:  # (line, why it is bad)
                    summary.bad.append(BadRow(*item))
                    continue
                line, rrn_index, key_values, row_values = item
                if validator.first_in_file(line, rrn_index):
                    valid.append(
                        _Sealed(
                            line,
                            rrn_index,
                            dict(zip(key_names, key_values, strict=True)),
                            dict(zip(row_names, row_values, strict=True)),
                        )
                    )
            if valid:
                _insert_batch(session, actor, valid, now, summary)
            if on_progress is not None:
                on_progress(size)
    finally:
        workers.shutdown(wait=True, cancel_futures=True)


# What goes to a worker, a row at a time: (line, problem, *values in COLUMNS order).
_SentRow = tuple[Any, ...]
# What comes back for a chunk: the data key and resident column names, then a row at a time
# (line, reason) or (line, RRN index, data key values, resident values). Tuples, not objects:
# a dataclass or a dict a row costs the importing process more to unpickle than to insert.
_Prepared = tuple[tuple[str, ...], tuple[str, ...], list[tuple[Any, ...]]]


class _Worker:
    """A worker process's means: the keyring in a session bound to no database, the checks."""

    def __init__(
        self,
        keyring: Keyring,
        actor: Actor,
        known: frozenset[str],
        today: date,
        now: datetime,
    ) -> None:
        # No bind: anything here that reached for a database would fail, not connect.
        self.session = Session(info={KEYRING_INFO: keyring})
        self.validator = _Validator(
            self.session, actor, now, ImportSummary(dry_run=False), known=known, today=today
        )
        self.now = now


_worker: _Worker | None = None


def _start_worker(
    keyring: Keyring, actor: Actor, known: frozenset[str], today: date, now: datetime
) -> None:
    global _worker  # noqa: PLW0603 - one per worker process, set once as it starts
    _worker = _Worker(keyring, actor, known, today, now)


def _prepare(chunk: list[_SentRow]) -> _Prepared:
    """In a worker: each row of `chunk`, in order, bad (why) or sealed (its rows' values)."""
    worker = _worker
    if worker is None:
        raise RuntimeError("not in an import worker")
    key_names: tuple[str, ...] = ()
    row_names: tuple[str, ...] = ()
    prepared: list[tuple[Any, ...]] = []
    for line, problem, *values in chunk:
        checked = worker.validator.checked(
            ImportRow(line, dict(zip(COLUMNS, values, strict=True)), problem)
        )
        if isinstance(checked, BadRow):
            prepared.append((checked.line, checked.reason))
            continue
        key_row, resident_row = _sealed_rows(worker.session, checked, worker.now)
        if not key_names:
            key_names, row_names = tuple(key_row), tuple(resident_row)
        prepared.append(
            (checked.line, checked.rrn_index, tuple(key_row.values()), tuple(resident_row.values()))
        )
    return key_names, row_names, prepared


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

    def __init__(
        self,
        session: Session,
        actor: Actor,
        now: datetime,
        summary: ImportSummary,
        *,
        known: frozenset[str] | None = None,
        today: date | None = None,
    ):
        self.session = session
        self.actor = actor
        # The Seoul calendar date, as registration checks a birth date (not UTC's, a day
        # behind until 09:00 in Seoul).
        self.today = seoul_today(now) if today is None else today
        self.summary = summary
        self.known = frozenset(known_dong_codes(session)) if known is None else known
        self.indexer = vault.indexer(session)
        self.first_line: dict[bytes, int] = {}  # RRN index -> the line it first appeared on

    def check(self, row: ImportRow) -> _Valid | None:
        checked = self.checked(row)
        if isinstance(checked, BadRow):
            self.summary.bad.append(checked)
            return None
        return checked if self.first_in_file(checked.line, checked.rrn_index) else None

    def first_in_file(self, line: int, rrn_index: bytes) -> bool:
        """Whether the file had no earlier row of this RRN; if it had, the row is reported."""
        earlier = self.first_line.setdefault(rrn_index, line)
        if earlier != line:
            self._bad(
                line,
                f"rrn: 파일 안에서 {earlier}행과 같은 주민등록번호입니다 "
                f"(duplicate RRN in this file, first on line {earlier})",
            )
            return False
        return True

    def checked(self, row: ImportRow) -> _Valid | BadRow:
        """The row's own checks (everything but a repeat of an earlier row's RRN)."""
        if row.problem is not None:
            return BadRow(row.line, row.problem)
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
            return BadRow(
                row.line, "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
            )
        rrn_index = self.indexer.full(residents.RRN_INDEX, identity.rrn.digits)
        return _Valid(row.line, identity, rrn_index, dong, address, household_type)

    def _bad(self, line: int, reason: str) -> None:
        self.summary.bad.append(BadRow(line, reason))


def _not_registered(session: Session, valid: Sequence[_V]) -> list[_V]:
    """The rows whose RRN is not in the registry yet: one indexed query for the whole batch."""
    if not valid:
        return []
    wanted = [v.rrn_index for v in valid]
    if session.get_bind().dialect.name == "postgresql" and all(
        len(w) == RRN_INDEX_BYTES for w in wanted
    ):
        # The indexes as one bytea cut in 32-byte pieces by the server: an IN list of a
        # thousand parameters was a new statement for psycopg and PostgreSQL to parse and plan
        # each batch (6-16 ms, against 0.2).
        found = session.scalars(_REGISTERED_AMONG, {"wanted": b"".join(wanted), "n": len(wanted)})
    else:
        found = session.scalars(select(Resident.rrn_index).where(Resident.rrn_index.in_(wanted)))
    existing = set(found)
    return [v for v in valid if v.rrn_index not in existing]


RRN_INDEX_BYTES: Final = 32  # a full blind index, HMAC-SHA256: the 32 in the statement below
_REGISTERED_AMONG: Final = (
    text(
        "SELECT residents.rrn_index FROM residents WHERE residents.rrn_index IN "
        "(SELECT substring(CAST(:wanted AS BYTEA) FROM i * 32 + 1 FOR 32) "
        "FROM generate_series(0, CAST(:n AS INTEGER) - 1) AS i)"
    )
    .bindparams(bindparam("wanted", type_=LargeBinary), bindparam("n", type_=Integer))
    .columns(rrn_index=LargeBinary)
)


def _sealed_rows(
    session: Session, valid: _Valid, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh data key's row and the resident's row, every personal field sealed under it."""
    resident_id = uuid.uuid4()
    key, key_row = vault.data_key_row(session, resident_id, now)
    return key_row, residents.resident_row(
        session,
        resident_id=resident_id,
        key=key,
        identity=valid.identity,
        rrn_index=valid.rrn_index,
        dong=valid.dong,
        address=valid.address,
        household_type=valid.household_type,
        notes=None,
        now=now,
    )


def _insert_batch(
    session: Session,
    actor: Actor,
    valid: Sequence[_Valid | _Sealed],
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
            # Sealed in a worker (`_import_pipelined`), or here.
            key_row, row = (
                (v.key_row, v.row)
                if isinstance(v, _Sealed)
                else _sealed_rows(
                    session,
                    v,
                    now,
                )
            )
            keys.append(key_row)
            rows.append(row)
        # Wrapped here or in a worker: refused if their master key was retired since.
        key_retirement.check_wrapped_under(session, {k["master_key_id"] for k in keys})
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
