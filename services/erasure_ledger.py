"""The erasure ledger: every erasure, kept outside the database, replayed after a restore.

Erasure destroys a resident's wrapped data key in the live database; a backup taken before it
still holds that key. So every erasure also appends one line to a ledger that lives outside the
database, like the audit checkpoints (services/audit/sinks.py): the resident's id, when, and an
HMAC with the audit key, nothing else. Restoring a backup (`welfare backup restore`, or
`pg_restore` followed by `welfare backup replay-erasures`) replays the ledger: every resident it
names who is not erased in the restored copy is erased again before anyone works with it
(docs/operations.md, "Backups"; docs/security-model.md, "Backups and erasure").

The line is written inside the erasure's transaction, before it commits: if the ledger cannot
be written, the erasure fails (503, nothing changed) rather than become an erasure a restore
would undo. If the commit fails after the line was written, the ledger names an erasure that did
not happen; a replay completes it (a supervisor asked for it with a reason). A line that fails
its MAC is reported and never replayed, so a line forged into the ledger erases nobody.

Several hosts: `DirectoryLedger` gives each host its own file in a shared directory (as the
checkpoint directory sink does), so writers never interleave; reading takes all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from services.audit.checkpoints import CheckpointSinkError
from services.audit.sinks import append_lines
from welfare.crypto.chain import canonical_instant
from welfare.errors import DomainError

# Where a Database puts the configured ledger in every session's `info`.
LEDGER_INFO = "welfare.erasure_ledger"
LEDGER_PATTERN = "erasure-ledger*.jsonl"
_MAC_PREFIX = b"welfare:erasure-ledger:v1\x00"


class LedgerUnavailable(DomainError):
    """The ledger could not be written: the erasure is refused (nothing changed) until it can."""

    status = 503
    code = "erasure_ledger_unavailable"
    title = (
        "파기 기록부에 기록할 수 없어 파기하지 않았습니다. 잠시 후 다시 시도하세요 "
        "(the erasure ledger cannot be written; nothing was erased)"
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """One erasure: whose, and when (the erasure's own `now`)."""

    resident_id: uuid.UUID
    erased_at: datetime

    def fields(self) -> dict[str, str]:
        return {
            "kind": "resident",
            "resident_id": str(self.resident_id),
            "erased_at": canonical_instant(self.erased_at),
        }

    def mac(self, key: bytes) -> str:
        body = json.dumps(self.fields(), sort_keys=True, separators=(",", ":")).encode()
        return hmac.new(key, _MAC_PREFIX + body, hashlib.sha256).hexdigest()

    def line(self, key: bytes) -> bytes:
        data = self.fields() | {"mac": self.mac(key)}
        return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()


@dataclass(slots=True)
class LedgerReading:
    """Every properly signed entry (first erasure per resident), and the lines that were not."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class ErasureLedger(Protocol):
    @property
    def description(self) -> str: ...

    def write(self, entry: Entry, key: bytes) -> None:
        """Append the entry durably, or raise LedgerUnavailable."""
        ...

    def read(self, key: bytes) -> LedgerReading: ...


class FileLedger:
    """One JSON-lines file, appended to (O_APPEND, fsync'd, 0600) and never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def description(self) -> str:
        return f"file {self.path}"

    def write(self, entry: Entry, key: bytes) -> None:
        _append(self.path, entry.line(key), self.description)

    def read(self, key: bytes) -> LedgerReading:
        return read_files([self.path], key)


class DirectoryLedger:
    """A shared directory with one file per host; it must exist (a missing mount fails)."""

    def __init__(self, path: Path, *, host: str | None = None) -> None:
        self.path = path
        name = re.sub(r"[^A-Za-z0-9._-]", "_", host or socket.gethostname())
        self.file = path / f"erasure-ledger-{name}.jsonl"

    @property
    def description(self) -> str:
        return f"directory {self.path}"

    def write(self, entry: Entry, key: bytes) -> None:
        if not self.path.is_dir():
            raise LedgerUnavailable()
        _append(self.file, entry.line(key), self.description)

    def read(self, key: bytes) -> LedgerReading:
        if not self.path.is_dir():
            return LedgerReading(problems=[f"{self.description} does not exist (is it mounted?)"])
        return read_files(sorted(self.path.glob(LEDGER_PATTERN)), key)


def ledger_for(path: Path | None) -> ErasureLedger | None:
    """A directory ledger for an existing directory, else a file ledger; None: no ledger."""
    if path is None:
        return None
    return DirectoryLedger(path) if path.is_dir() else FileLedger(path)


def _append(path: Path, data: bytes, description: str) -> None:
    try:
        append_lines(path, data, description)
    except CheckpointSinkError:
        raise LedgerUnavailable() from None


def read_files(paths: Iterable[Path], key: bytes) -> LedgerReading:
    reading = LedgerReading()
    seen: set[uuid.UUID] = set()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue  # nothing erased yet
        except (OSError, UnicodeDecodeError) as exc:
            reading.problems.append(f"{path} cannot be read ({type(exc).__name__})")
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            entry = _parse(line, key)
            if entry is None:
                reading.problems.append(
                    f"{path}, line {number} is not a properly signed erasure (torn, forged, or "
                    "written with another audit key); it is not replayed"
                )
                continue
            if entry.resident_id not in seen:
                seen.add(entry.resident_id)
                reading.entries.append(entry)
    return reading


def _parse(line: str, key: bytes) -> Entry | None:
    try:
        data = json.loads(line)
        entry = Entry(
            resident_id=uuid.UUID(data["resident_id"]),
            erased_at=datetime.fromisoformat(data["erased_at"]),
        )
        mac = data["mac"]
    except (ValueError, KeyError, TypeError):
        return None
    if data.get("kind") != "resident" or not isinstance(mac, str):
        return None
    if not hmac.compare_digest(mac.encode("ascii", "replace"), entry.mac(key).encode()):
        return None
    return entry


def session_ledger(session: Session) -> ErasureLedger | None:
    """The ledger configured for this session's database, if any (`Database.set_info`)."""
    ledger: ErasureLedger | None = session.info.get(LEDGER_INFO)
    return ledger


def record_erasure(
    session: Session, resident_id: uuid.UUID, erased_at: datetime, key: bytes
) -> None:
    """Append the erasure to the session's ledger (a no-op where none is configured)."""
    ledger = session_ledger(session)
    if ledger is not None:
        ledger.write(Entry(resident_id, erased_at), key)


__all__: Sequence[str] = (
    "DirectoryLedger",
    "Entry",
    "ErasureLedger",
    "FileLedger",
    "LedgerReading",
    "LedgerUnavailable",
    "ledger_for",
    "record_erasure",
    "session_ledger",
)
