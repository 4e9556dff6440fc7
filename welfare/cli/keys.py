"""`welfare keys`: master-key status, rotation, rewrapping and retirement."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from services import keys as keys_service
from services import vault
from welfare.cli.errors import fail
from welfare.crypto.keyring import Keyring, KeyringError, KeyState, load_keyring, save_keyring
from welfare.errors import DomainError
from welfare.web import get_database, get_settings, use_keyring

PICKUP_WAIT_SECONDS = 2.0  # twice welfare.web's KEYRING_CHECK_SECONDS


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
    use_keyring(current_app, keyring)  # the proxy is enough: nothing keeps it past this call
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
        "  1. where the nodes do not share this file, install it on every web node and scheduler; "
        "each picks it up within a second, without a restart"
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
@click.option(
    "--pickup-wait",
    default=PICKUP_WAIT_SECONDS,
    show_default=True,
    type=click.FloatRange(0, 600),
    help="Seconds the keyring file must have been in place, so every node picked it up",
)
@with_appcontext
def keys_rewrap(batch_size: int, max_batches: int | None, pickup_wait: float) -> None:
    """Rewrap every data key not on the active master key (resumable, idempotent)."""
    keyring = _read_keyring()
    _wait_for_pickup(pickup_wait)
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


def _wait_for_pickup(seconds: float) -> None:
    """Running nodes look at the keyring file at most once a second (welfare.web): a file
    written just now (by `rotate`) gets that long before data keys move under its new key."""
    try:
        age = time.time() - _keyring_file().stat().st_mtime
    except OSError:
        return
    if age < seconds:
        click.echo(f"waiting {seconds - age:.1f} s so every node picks up the new keyring")
        time.sleep(seconds - age)


@keys.command("retire")
@click.argument("key_id")
@with_appcontext
def keys_retire(key_id: str) -> None:
    """Retire KEY_ID (erasing its secret), refused while any data key depends on it."""
    keyring = _read_keyring()
    try:
        with get_database().new_session() as session:
            retired = keys_service.retire(session, keyring, key_id)
            session.commit()  # the retirement's mark: no node wraps a new key under it now
    except DomainError as exc:
        fail(exc)
    try:
        save_keyring(retired, _keyring_file())
    except OSError as exc:
        click.echo(
            f"welfare: {key_id}는 데이터베이스에서 폐기로 표시되었지만 키링 파일에서 비밀을 "
            f"지우지 못했습니다 ({exc.strerror}). 파일을 고친 뒤 `welfare keys retire {key_id}`를 "
            f"다시 실행하세요 ({key_id} is marked retired in the database but its secret is "
            f"still in {_keyring_file()}: fix the file and run `welfare keys retire {key_id}` "
            "again)",
            err=True,
        )
        sys.exit(1)
    _use(retired)
    click.echo(
        f"{key_id} retired: its secret is erased from {_keyring_file()}; backups still wrapped "
        "under it can no longer be read. Nodes sharing this file drop the key within a second; "
        "install it wherever they do not."
    )
