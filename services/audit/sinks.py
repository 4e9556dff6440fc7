"""Checkpoint sinks: where signed chain heads are kept, outside the database.

- `FileSink`: one append-only JSON-lines file (the embedded default,
  `<data dir>/audit-checkpoints.jsonl`), created 0600, opened O_APPEND, fsync'd after each write.
- `DirectorySink`: a directory, ideally mounted from a system the database's administrators do
  not control; each host appends to its own file there, so writers on several nodes never
  interleave, and reading takes the latest checkpoint over all files.
- `SyslogSink`: one syslog message per checkpoint (a local socket, UDP or TCP). This service
  cannot read syslog back; verify then takes the collected lines with `--checkpoint FILE`.

Reading takes, per chain, the checkpoint with the highest seq in the whole file, never merely the
last line: where the file is append-only (`chattr +a`, a WORM share) the one move left to an
intruder is appending an old, validly signed line again, and that must not make an older head
look current. Such a line, a line that fails its MAC, and two lines naming different records at
one seq or different chain starts are problems reported to the caller. A sink object remembers
how far it has read each file (by device, inode and offset), so the job, which reads before
every write, only reads what was appended since.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.settings import CheckpointSinkSetting
from services.audit.checkpoints import (
    Checkpoint,
    CheckpointSink,
    CheckpointSinkError,
    SinkReading,
)
from welfare.models import AuditChain

FILE_MODE = 0o600
MAX_PROBLEMS_PER_FILE = 10
DIRECTORY_PATTERN = "audit-checkpoints*.jsonl"
# syslog facility authpriv (10), severity notice (5): RFC 5424 PRI = 10 * 8 + 5.
SYSLOG_PRI = 85
SYSLOG_TAG = "welfare-audit-checkpoint"
SYSLOG_TIMEOUT_SECONDS = 5


def sink_for(
    setting: CheckpointSinkSetting | None, *, host: str | None = None
) -> CheckpointSink | None:
    """The sink a setting describes (no I/O happens until it is written or read)."""
    if setting is None:
        return None
    if setting.kind == "file":
        return FileSink(Path(setting.target))
    if setting.kind == "dir":
        return DirectorySink(Path(setting.target), host=host or socket.gethostname())
    return SyslogSink(setting.target)


def line_of(point: Checkpoint) -> bytes:
    return (json.dumps(point.as_json(), sort_keys=True, separators=(",", ":")) + "\n").encode()


class FileSink:
    """One JSON-lines file, appended to and never rewritten."""

    kind = "file"
    readable = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._scanner = Scanner()

    @property
    def description(self) -> str:
        return f"file {self.path}"

    def write(self, points: Sequence[Checkpoint]) -> None:
        append_lines(self.path, b"".join(line_of(p) for p in points), self.description)

    def read(self, key: bytes) -> SinkReading:
        return self._scanner.read([self.path], key)


class DirectorySink:
    """A directory of JSON-lines files, one per host that writes."""

    kind = "dir"
    readable = True

    def __init__(self, path: Path, *, host: str) -> None:
        self.path = path
        self._scanner = Scanner()
        self.file = path / f"audit-checkpoints-{re.sub(r'[^A-Za-z0-9._-]', '_', host)}.jsonl"

    @property
    def description(self) -> str:
        return f"directory {self.path}"

    def write(self, points: Sequence[Checkpoint]) -> None:
        if not self.path.is_dir():
            # Never create it: a missing mount must fail loudly, not fill the local disk.
            raise CheckpointSinkError(f"{self.description} does not exist (is it mounted?)")
        append_lines(self.file, b"".join(line_of(p) for p in points), self.description)

    def read(self, key: bytes) -> SinkReading:
        if not self.path.is_dir():
            raise CheckpointSinkError(f"{self.description} does not exist (is it mounted?)")
        return self._scanner.read(sorted(self.path.glob(DIRECTORY_PATTERN)), key)


class SyslogSink:
    """Checkpoints as syslog messages; write-only from this service's side."""

    kind = "syslog"
    readable = False

    def __init__(self, address: str) -> None:
        self.address = address
        self.stream = address.startswith("tcp://")

    @property
    def description(self) -> str:
        return f"syslog {self.address}"

    def write(self, points: Sequence[Checkpoint]) -> None:
        try:
            with self._connect() as sock:
                for point in points:
                    message = f"<{SYSLOG_PRI}>{SYSLOG_TAG}: ".encode() + line_of(point)
                    # TCP syslog frames messages by their newline (RFC 6587, non-transparent
                    # framing); a datagram is one message.
                    sock.sendall(message if self.stream else message.rstrip(b"\n"))
        except OSError as exc:
            raise CheckpointSinkError(
                f"cannot write to {self.description}: {exc.strerror or type(exc).__name__}"
            ) from None

    def read(self, key: bytes) -> SinkReading:
        raise CheckpointSinkError(f"{self.description} cannot be read back by this service")

    def _connect(self) -> socket.socket:
        target: Any
        if "://" not in self.address:
            family, kind, proto, target = socket.AF_UNIX, socket.SOCK_DGRAM, 0, self.address
        else:
            host, _, port = self.address.split("://", 1)[1].rpartition(":")
            if self.stream:
                return socket.create_connection(
                    (host.strip("[]"), int(port)), timeout=SYSLOG_TIMEOUT_SECONDS
                )
            family, kind, proto, _, target = socket.getaddrinfo(
                host.strip("[]"), int(port), type=socket.SOCK_DGRAM
            )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(SYSLOG_TIMEOUT_SECONDS)
            sock.connect(target)
        except OSError:
            sock.close()
            raise
        return sock


def append_lines(path: Path, data: bytes, description: str) -> None:
    """Append `data` to `path` durably: O_APPEND (writers never overwrite each other), the file
    created 0600, fsync'd (and its directory, when the file is new) before returning."""
    try:
        created = not path.exists()
        if created:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a line torn by a crash stays on its own line
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            directory = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
    except OSError as exc:
        raise CheckpointSinkError(
            f"cannot write to {description}: {exc.strerror or type(exc).__name__}"
        ) from None


@dataclass(slots=True)
class _FileScan:
    """How far one file has been read, and what it held up to there."""

    device: int
    inode: int
    key: bytes
    offset: int = 0
    lines: int = 0
    latest: dict[AuditChain, tuple[Checkpoint, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Scanner:
    """Reads checkpoint files forward, remembering where it stopped in each."""

    def __init__(self) -> None:
        self._scans: dict[Path, _FileScan] = {}

    def read(self, paths: Sequence[Path], key: bytes) -> SinkReading:
        reading = SinkReading()
        for path in paths:
            scan, torn = self._scan(path, key)
            if scan is None:
                continue
            reading.problems.extend(scan.problems)
            reading.notes.extend(scan.notes)
            if torn:
                reading.notes.append(
                    f"{path}, line {scan.lines + 1} is cut short (being written, or a crash "
                    "while writing); ignored"
                )
            for chain, (point, number) in scan.latest.items():
                known = reading.latest.get(chain)
                if known is None or point.seq > known.seq:
                    reading.latest[chain] = point
                elif point.seq == known.seq and point.hash != known.hash:
                    reading.problems.append(
                        f"{path}, line {number} names another record at seq {point.seq} of "
                        f"{chain.label} than another file does"
                    )
        return reading

    def _scan(self, path: Path, key: bytes) -> tuple[_FileScan | None, bool]:
        try:
            with path.open("rb") as handle:
                status = os.fstat(handle.fileno())
                scan = self._scans.get(path)
                if (
                    scan is None
                    or (scan.device, scan.inode) != (status.st_dev, status.st_ino)
                    or status.st_size < scan.offset
                    or scan.key != key
                ):
                    # New, replaced or shortened (truncated: read it all again).
                    scan = _FileScan(device=status.st_dev, inode=status.st_ino, key=key)
                    self._scans[path] = scan
                handle.seek(scan.offset)
                for raw in handle:
                    if not raw.endswith(b"\n"):
                        return scan, True
                    scan.offset += len(raw)
                    scan.lines += 1
                    _take(scan, path, raw, key)
                return scan, False
        except FileNotFoundError:
            return None, False
        except OSError as exc:
            raise CheckpointSinkError(
                f"cannot read {path}: {exc.strerror or type(exc).__name__}"
            ) from None


def _take(scan: _FileScan, path: Path, raw: bytes, key: bytes) -> None:
    """Account for one complete line of a file."""
    if not raw.strip():
        return
    where = f"{path}, line {scan.lines}"
    try:
        point = Checkpoint.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        # Not a forgery (a forged checkpoint parses and fails its MAC): most likely a line cut
        # short by a crash while writing. It hides nothing, so it is only noted.
        scan.notes.append(f"{where} is not a checkpoint line (cut short while writing?); ignored")
        return
    problem = None
    known = scan.latest.get(point.chain)
    if not point.is_signed_by(key):
        problem = (
            f"{where} ({point.chain.label}, seq {point.seq}) fails its MAC: forged, or written "
            "with another audit key"
        )
    elif known is not None and point.seq < known[0].seq:
        problem = (
            f"{where} ({point.chain.label}) goes back to seq {point.seq} after seq "
            f"{known[0].seq} on line {known[1]}: an old line was appended again"
        )
    elif known is not None and point.seq == known[0].seq and point.hash != known[0].hash:
        problem = f"{where} names another record at seq {point.seq} than line {known[1]}"
    elif (
        known is not None
        and known[0].started_at is not None
        and point.started_at != known[0].started_at
    ):
        problem = f"{where} names another start of {point.chain.label} than line {known[1]}"
    if problem is None:
        scan.latest[point.chain] = (point, scan.lines)
    elif len(scan.problems) < MAX_PROBLEMS_PER_FILE:
        scan.problems.append(problem)
