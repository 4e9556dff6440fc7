"""`welfare audit`: verify the access-record chains against their checkpoints, print a
checkpoint, review a month."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import click
from flask.cli import with_appcontext

from services import audit as audit_service
from services.audit.review import WorkingHours, monthly_review
from welfare.database import database_now
from welfare.models import AuditChain
from welfare.web import get_checkpoint_sink, get_database, get_keyring

PROGRESS_FROM = 50_000  # links; smaller chains verify in a blink
PROGRESS_EVERY = 100_000


@click.group()
def audit() -> None:
    """Access records (접속기록): verify the chains, produce the monthly review."""


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON lines from `welfare audit checkpoint` (or collected from syslog) kept off-site, "
    "instead of the configured sink (the last line per chain counts).",
)
@with_appcontext
def audit_verify(checkpoint_file: Path | None) -> None:
    """Verify both keyed chains against the latest checkpoints kept outside the database;
    name the first broken or missing link; exit 1 on any break."""

    key = get_keyring().audit_key
    if checkpoint_file is not None:
        checkpoints, problems = _read_checkpoints(checkpoint_file, key)
        source = f"checkpoints: {checkpoint_file}"
    else:
        checkpoints, problems, source = _sink_checkpoints(get_checkpoint_sink(), key)
    click.echo(source)
    broken = bool(problems)
    for problem in problems:
        click.echo(f"checkpoints: BROKEN: {problem}")
    with get_database().snapshot() as session:
        now = database_now(session)
        for chain in AuditChain:
            result = audit_service.verify_chain(
                session, chain, progress=_progress(chain), checkpoint=checkpoints.get(chain)
            )
            for drop in result.dropped:
                click.echo(f"{chain.label}: retention: {drop.describe()}")
            if result.unlinked:
                click.echo(f"{chain.label}: {_unlinked(result, now)}")
            if result.ok:
                click.echo(
                    f"{chain.label}: {_links(result.checked)} verified{_since(result.started_at)}"
                )
            else:
                broken = True
                where = f" at seq {result.first_bad_seq}" if result.first_bad_seq else ""
                click.echo(
                    f"{chain.label}: BROKEN{where}: {result.problem} "
                    f"({_links(result.checked)} verified before it)"
                )
    if broken:
        sys.exit(1)


def _unlinked(result: audit_service.VerifyResult, now: datetime) -> str:
    """Records appended but not linked yet: sealed, each checked, not yet in the chain."""
    oldest = result.oldest_unlinked_at
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    count = f"{result.unlinked:,} record" + ("s" if result.unlinked != 1 else "")
    return (
        f"{count} not linked yet (sealed and checked; the oldest appended {age:,.0f} s ago); "
        "the audit_link job links them"
    )


@audit.command("checkpoint")
@with_appcontext
def audit_checkpoint() -> None:
    """Print each chain's signed head as a JSON line; keep them outside this system."""

    with get_database().snapshot() as session:
        now = database_now(session)
        try:
            points = [
                audit_service.take_checkpoint(session, chain, taken_at=now) for chain in AuditChain
            ]
        except audit_service.AuditChainBroken as exc:
            click.echo(f"welfare: {exc}", err=True)
            sys.exit(1)
    for point in points:
        click.echo(json.dumps(point.as_json(), sort_keys=True))


def _sink_checkpoints(
    sink: audit_service.CheckpointSink | None, key: bytes
) -> tuple[dict[AuditChain, audit_service.Checkpoint], list[str], str]:
    """The latest checkpoint per chain from the configured sink, its problems, and one line
    saying plainly where they came from, or why there are none."""
    if sink is None:
        return (
            {},
            [],
            "checkpoints: none: no sink is configured (WELFARE_AUDIT_CHECKPOINT_*), so a chain "
            "head replayed from an older copy of the database cannot be detected",
        )
    if not sink.readable:
        return (
            {},
            [],
            f"checkpoints: none read: they go to {sink.description}, which this command cannot "
            "read back; pass the lines collected there with --checkpoint FILE",
        )
    try:
        reading = sink.read(key)
    except audit_service.CheckpointSinkError as exc:
        return {}, [str(exc)], f"checkpoints: {sink.description} could not be read"
    notes = "".join(f"\ncheckpoints: note: {note}" for note in reading.notes)
    if not reading.latest:
        return (
            {},
            reading.problems,
            f"checkpoints: none yet in {sink.description} (the audit_checkpoint job writes them "
            "every few minutes)" + notes,
        )
    latest = ", ".join(
        f"{point.chain.label} seq {point.seq}"
        + (f" taken {point.taken_at.isoformat()}" if point.taken_at else "")
        for point in (reading.latest[c] for c in AuditChain if c in reading.latest)
    )
    return (
        reading.latest,
        reading.problems,
        f"checkpoints: latest in {sink.description}: {latest}{notes}",
    )


def _read_checkpoints(
    path: Path, key: bytes
) -> tuple[dict[AuditChain, audit_service.Checkpoint], list[str]]:
    """The last checkpoint per chain in an operator's file. Lines printed by older versions
    carry no MAC and are taken on the file keeper's word; a MAC that fails is a problem."""
    found: dict[AuditChain, audit_service.Checkpoint] = {}
    problems: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            point = audit_service.Checkpoint.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            raise click.BadParameter(
                f"line {number} is not a checkpoint", param_hint="--checkpoint"
            ) from None
        if point.mac is not None and not point.is_signed_by(key):
            problems.append(
                f"{path}, line {number} fails its MAC: forged, or written with another audit key"
            )
            continue
        found[point.chain] = point
    return found, problems


def _since(started_at: datetime | None) -> str:
    return f" (chain started {started_at.isoformat()})" if started_at is not None else ""


def _links(count: int) -> str:
    return f"{count} link" if count == 1 else f"{count} links"


def _progress(chain: AuditChain) -> audit_service.Progress:
    def report(checked: int, expected: int) -> None:
        if expected >= PROGRESS_FROM and (checked % PROGRESS_EVERY == 0 or checked >= expected):
            click.echo(f"{chain.label}: {checked}/{expected} links checked", err=True)

    return report


def _parse_month(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC).date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month like 2026-10") from None


def _parse_clock(_ctx: click.Context, _param: click.Parameter, value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time like 08:00") from None


@audit.command("review")
@click.option("--month", required=True, callback=_parse_month, help="YYYY-MM (Asia/Seoul)")
@click.option("--workday-start", default="08:00", show_default=True, callback=_parse_clock)
@click.option("--workday-end", default="20:00", show_default=True, callback=_parse_clock)
@with_appcontext
def audit_review(month: date, workday_start: time, workday_end: time) -> None:
    """Print the monthly review of access records as JSON (counts and staff ids only)."""

    hours = WorkingHours(start=workday_start, end=workday_end)
    with get_database().snapshot() as session:
        review = monthly_review(session, month=month, working_hours=hours)
    click.echo(json.dumps(review, ensure_ascii=False, indent=2))
