"""The `welfare` commands, attached to each app by `init_app` (the entry point is welfare.main)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import NoReturn

import click
import waitress
from flask import Flask, current_app
from flask.cli import with_appcontext

from schedulers.runner import SchedulerLoop, tick
from services import audit as audit_service
from services import demo as demo_service
from services import keys as keys_service
from services import resident_import as import_service
from services import staff as staff_service
from services import vault
from services.audit.review import WorkingHours, monthly_review
from services.staff import STAFF_ROLES
from welfare.crypto.keyring import Keyring, KeyringError, KeyState, load_keyring, save_keyring
from welfare.crypto.passwords import make_hasher
from welfare.database import database_now
from welfare.errors import DomainError
from welfare.migrate import downgrade, upgrade
from welfare.models import AuditChain
from welfare.web import get_database, get_settings, use_keyring


def init_app(app: Flask) -> None:
    """Attach the commands to the app, so `welfare` and the test runner see the same ones."""
    for command in (db, serve, scheduler, demo, staff, tokens, audit, keys, residents):
        app.cli.add_command(command)


# -- database ---------------------------------------------------------------------------------
@click.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the configured database (creates the SQLite file if needed)."""

    upgrade(get_database().engine, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (e.g. `base`)."""

    downgrade(get_database().engine, revision)
    click.echo(f"database at {revision}")


# -- serving ----------------------------------------------------------------------------------
@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Serve only; run the jobs elsewhere.")
@with_appcontext
def serve(host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Embedded mode: migrate, serve the API and run the schedulers in one process."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a proxy typed as Flask
    database = get_database()
    upgrade(database.engine)
    loop = None
    app.extensions["welfare.started_at"] = datetime.now(UTC)
    if not no_scheduler:
        loop = SchedulerLoop(database, poll=get_settings().scheduler_interval / 6)
        loop.start_thread()
        app.extensions["welfare.scheduler_embedded"] = True
    click.echo(
        f"Geumcheon Welfare serving on http://{host}:{port} "
        f"(docs: http://{host}:{port}/api/v1/docs; scheduler "
        f"{'off' if no_scheduler else 'on'}; env {get_settings().env})"
    )
    try:
        waitress.serve(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="welfare",
            clear_untrusted_proxy_headers=True,
        )
    finally:
        if loop is not None:
            loop.stop()


# -- scheduler --------------------------------------------------------------------------------
@click.group()
def scheduler() -> None:
    """Follow-up scheduler jobs."""


def _parse_instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not ISO-8601, e.g. 2026-11-24T09:00:00+09:00"
        ) from None
    if instant.tzinfo is None:
        raise click.BadParameter("give an offset, e.g. 2026-11-24T09:00:00+09:00")
    return instant.astimezone(UTC)


@scheduler.command("tick")
@click.option("--as-of", "as_of", default=None, help="ISO-8601 instant with offset (default: now)")
@with_appcontext
def scheduler_tick(as_of: str | None) -> None:
    """Run every job once at that instant; print one JSON object per job."""

    results = tick(get_database(), as_of=_parse_instant(as_of))
    for result in results:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    if not results:
        click.echo("no jobs registered", err=True)
    if any(r.status == "failed" for r in results):
        sys.exit(1)


@scheduler.command("run")
@with_appcontext
def scheduler_run() -> None:
    """Run the jobs forever on their schedule (Ctrl-C to stop)."""

    loop = SchedulerLoop(get_database())
    click.echo(
        f"scheduler running as {loop.node}; jobs: {', '.join(j.name for j in loop.jobs) or 'none'}"
    )
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        loop.stop()


# -- staff and tokens -------------------------------------------------------------------------
@click.group()
def staff() -> None:
    """Staff accounts."""


@staff.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in STAFF_ROLES]))
@click.option("--dong", "dongs", multiple=True, help="10-digit dong code; repeat for several")
@click.option("--name", "display_name", default="", help="Display name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input")
@with_appcontext
def staff_create(
    username: str, role: str, dongs: tuple[str, ...], display_name: str, password_stdin: bool
) -> None:
    """Create a staff account and print its id."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif role != "gateway":
        raise click.UsageError("give the password on standard input with --password-stdin")
    try:
        with get_database().new_session() as session:
            member = staff_service.create_staff(
                session,
                actor=None,
                username=username,
                role=role,
                dongs=list(dongs),
                display_name=display_name,
                password=password,
                hasher=make_hasher(get_settings().argon2_profile),
                now=datetime.now(UTC),
            )
    except DomainError as exc:
        _fail(exc)
    click.echo(str(member.id))


@click.group()
def tokens() -> None:
    """API tokens for gateways and scripts."""


@tokens.command("create")
@click.argument("username")
@click.option("--label", default="", help="What the token is for")
@with_appcontext
def tokens_create(username: str, label: str) -> None:
    """Issue an API token and print it once (only its hash is stored)."""
    try:
        with get_database().new_session() as session:
            member = staff_service.get_staff_by_username(session, username)
            plaintext, _token = staff_service.issue_token(
                session, actor=None, staff_id=member.id, label=label, now=datetime.now(UTC)
            )
    except DomainError as exc:
        _fail(exc)
    click.echo(plaintext)


def _fail(exc: DomainError) -> NoReturn:
    details = "; ".join(f"{k}: {' '.join(v)}" for k, v in getattr(exc, "errors", {}).items())
    click.echo(f"welfare: {exc.detail}" + (f" ({details})" if details else ""), err=True)
    sys.exit(1)


# -- demo -------------------------------------------------------------------------------------
@click.group()
def demo() -> None:
    """A fictional district for trying the system."""


@demo.command("seed")
@with_appcontext
def demo_seed() -> None:
    """Fill the database with a realistic fictional district (once; re-running is safe)."""
    settings = get_settings()
    if settings.is_production:
        click.echo("welfare: demo seed never runs in production (fictional residents)", err=True)
        sys.exit(2)
    with get_database().new_session() as session:
        district = demo_service.seed_demo_district(
            session, hasher=make_hasher(settings.argon2_profile)
        )
    if district is None:
        click.echo("demo district already seeded; nothing to do")
        return
    click.echo("demo district seeded: " + ", ".join(f"{k}={v}" for k, v in district.counts.items()))
    for kind, breakdown in district.details.items():
        click.echo(f"  {kind}: " + ", ".join(f"{k}={v}" for k, v in breakdown.items()))
    if district.accounts and district.password:
        # Shown once, here: only the Argon2 hashes are stored.
        click.echo("")
        click.echo("DEMO CREDENTIALS (fictional district, not for real data; shown only once):")
        for account in district.accounts:
            scope = ", ".join(account.dongs) if len(account.dongs) < 4 else "all dongs"
            click.echo(f"  {account.username:<26} {account.role:<11} {scope}")
        click.echo(f"  password for all of them: {district.password}")


# -- keys -------------------------------------------------------------------------------------
@click.group()
def keys() -> None:
    """Master keys: status, rotation, rewrapping data keys, retirement."""


def _keyring_file() -> Path:
    return get_settings().keyring_file


def _read_keyring() -> Keyring:
    """The keyring file is the truth (another process may have rotated); use it from now on."""
    try:
        keyring = load_keyring(_keyring_file())
    except KeyringError as exc:
        click.echo(f"welfare: {exc}", err=True)
        sys.exit(2)
    _use(keyring)
    return keyring


def _use(keyring: Keyring) -> None:
    use_keyring(current_app._get_current_object(), keyring)  # type: ignore[attr-defined]  # a proxy typed as Flask
    vault.forget_cached_keys()


def _print_status(keyring: Keyring) -> None:
    with get_database().new_session() as session:
        rows = keys_service.status(session, keyring)
        session.rollback()
    click.echo(f"{'master key':<22} {'state':<13} {'created':<10} {'data keys':>10} {'staff':>6}")
    for row in rows:
        created = f"{row.created_at:%Y-%m-%d}" if row.created_at else "(unknown)"
        click.echo(
            f"{row.id:<22} {row.state.value:<13} {created:<10} "
            f"{row.data_keys:>10,} {row.staff_secrets:>6}"
        )
    idle = [r.id for r in rows if r.state is KeyState.DECRYPT_ONLY and not r.dependents]
    for key_id in idle:
        click.echo(f"{key_id} wraps nothing any more: `welfare keys retire {key_id}` may retire it")


@keys.command("status")
@with_appcontext
def keys_status() -> None:
    """List the master keys with their state and what still depends on each."""
    _print_status(_read_keyring())


@keys.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Add a new active master key; the old active key becomes decrypt-only."""
    path = _keyring_file()
    old = _read_keyring()
    rotated = keys_service.rotate(old, now=datetime.now(UTC))
    save_keyring(rotated, path)
    _use(rotated)
    click.echo(f"new active master key: {rotated.active.id}")
    click.echo(f"{old.active.id} is now decrypt-only; keyring written to {path}")
    click.echo("next:")
    click.echo(
        "  1. install this keyring file on every web node and scheduler and restart or redeploy "
        "them: until they do, they cannot read data keys wrapped under the new key"
    )
    click.echo("  2. welfare keys rewrap")
    click.echo(f"  3. welfare keys retire {old.active.id}   (refused while anything depends on it)")


@keys.command("rewrap")
@click.option(
    "--batch",
    "batch_size",
    default=keys_service.DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Data keys per transaction",
)
@click.option(
    "--max-batches",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many batches (run again to continue)",
)
@with_appcontext
def keys_rewrap(batch_size: int, max_batches: int | None) -> None:
    """Rewrap every data key not on the active master key (resumable, idempotent)."""
    keyring = _read_keyring()
    with get_database().new_session() as session:
        total = keys_service.pending_rewrap(session, keyring)
        try:
            with click.progressbar(length=total, label="rewrapping data keys") as bar:
                report = keys_service.rewrap_to_active_key(
                    session,
                    keyring,
                    now=datetime.now(UTC),
                    batch_size=batch_size,
                    max_batches=max_batches,
                    on_progress=bar.update,
                )
        except keys_service.RewrapInterrupted as exc:
            click.echo("")
            click.echo(
                f"welfare: rewrap interrupted ({exc.cause}) after {exc.report.batches} "
                f"committed batches ({exc.report.rewrapped} data keys rewrapped); "
                "run `welfare keys rewrap` again to continue",
                err=True,
            )
            sys.exit(1)
    click.echo(
        f"rewrapped {report.rewrapped:,} data keys and {report.staff_secrets} staff secrets "
        f"to {keyring.active.id} in {report.batches} batches"
    )
    if report.unreadable:
        shown = ", ".join(str(s) for s in report.unreadable[:10])
        click.echo(
            f"!! {len(report.unreadable)} data keys could not be unwrapped and were left as they "
            f"are (subjects {shown}{', ...' if len(report.unreadable) > 10 else ''})",
            err=True,
        )
    elif not report.finished:
        click.echo("stopped before the end; run `welfare keys rewrap` again to continue")
    click.echo("still depending on each master key:")
    _print_status(keyring)
    if report.unreadable:
        sys.exit(1)


@keys.command("retire")
@click.argument("key_id")
@with_appcontext
def keys_retire(key_id: str) -> None:
    """Retire KEY_ID (erasing its secret), refused while any data key depends on it."""
    keyring = _read_keyring()
    try:
        with get_database().new_session() as session:
            retired = keys_service.retire(session, keyring, key_id)
            session.rollback()
    except DomainError as exc:
        _fail(exc)
    save_keyring(retired, _keyring_file())
    _use(retired)
    click.echo(
        f"{key_id} retired: its secret is erased from {_keyring_file()}; backups still wrapped "
        "under it can no longer be read. Install this keyring file on every node."
    )


# -- residents --------------------------------------------------------------------------------
@click.group()
def residents() -> None:
    """The resident registry."""


@residents.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing")
@click.option(
    "--as", "username", default=None, help="Import as this staff member (default: system)"
)
@click.option(
    "--batch",
    "batch_size",
    default=import_service.DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Residents per transaction",
)
@with_appcontext
def residents_import(file: Path, dry_run: bool, username: str | None, batch_size: int) -> None:
    """Register residents from FILE (CSV: name,rrn,dong,phone,address,household_type).

    Bad rows are reported by line number and reason and skipped; residents already registered
    are skipped, so running a file again is safe. Exits 1 when any row was bad.
    """
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream:
            rows = import_service.read_csv(stream)
    except import_service.CsvFormatError as exc:
        click.echo(f"welfare: {file.name}: {exc.detail}", err=True)
        sys.exit(2)
    try:
        with get_database().new_session() as session:
            actor = import_service.importing_actor(session, username=username)
            with click.progressbar(length=len(rows), label="importing residents") as bar:
                summary = import_service.import_residents(
                    session,
                    actor=actor,
                    rows=rows,
                    now=datetime.now(UTC),
                    dry_run=dry_run,
                    batch_size=batch_size,
                    on_progress=bar.update,
                )
    except import_service.NotResidentDataStaff as exc:
        click.echo(f"welfare: {exc.username} does not work with resident data", err=True)
        sys.exit(2)
    except DomainError as exc:
        _fail(exc)
    for bad in summary.bad:
        click.echo(f"line {bad.line}: {bad.reason}")
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{'dry run: ' if dry_run else ''}{verb} {summary.imported:,}, skipped as already "
        f"registered {summary.already_registered:,}, bad rows {len(summary.bad):,} "
        f"(of {summary.rows:,} rows)" + ("; nothing was written" if dry_run else "")
    )
    if summary.bad:
        sys.exit(1)


# -- access records ---------------------------------------------------------------------------
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
    help="JSON lines from `welfare audit checkpoint` kept off-site (the last per chain counts).",
)
@with_appcontext
def audit_verify(checkpoint_file: Path | None) -> None:
    """Verify both keyed chains; name the first broken or missing link; exit 1 on any break."""

    checkpoints = _read_checkpoints(checkpoint_file) if checkpoint_file else {}
    broken = False
    with get_database().snapshot() as session:
        for chain in AuditChain:
            result = audit_service.verify_chain(
                session, chain, progress=_progress(chain), checkpoint=checkpoints.get(chain)
            )
            if result.ok:
                click.echo(f"{chain.label}: {_links(result.checked)} verified")
            else:
                broken = True
                where = f" at seq {result.first_bad_seq}" if result.first_bad_seq else ""
                click.echo(
                    f"{chain.label}: BROKEN{where}: {result.problem} "
                    f"({_links(result.checked)} verified before it)"
                )
    if broken:
        sys.exit(1)


@audit.command("checkpoint")
@with_appcontext
def audit_checkpoint() -> None:
    """Print each chain's head as a JSON line; append them to a store outside this system."""

    with get_database().snapshot() as session:
        now = database_now(session)
        for chain in AuditChain:
            point = audit_service.take_checkpoint(session, chain)
            click.echo(json.dumps({**point.as_json(), "taken_at": now.isoformat()}))


def _read_checkpoints(path: Path) -> dict[AuditChain, audit_service.Checkpoint]:
    found: dict[AuditChain, audit_service.Checkpoint] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            point = audit_service.Checkpoint.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            raise click.BadParameter(
                f"line {number} is not a checkpoint", param_hint="--checkpoint"
            ) from None
        found[point.chain] = point
    return found


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
