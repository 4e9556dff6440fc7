"""`welfare staff` and `welfare tokens`: accounts, second factors, API tokens."""

from __future__ import annotations

import secrets
import sys
from datetime import UTC, datetime

import click
from flask.cli import with_appcontext

from services import second_factor
from services import staff as staff_service
from services import tokens as tokens_service
from services.staff import STAFF_ROLES
from welfare.cli.errors import fail
from welfare.crypto.passwords import make_hasher
from welfare.errors import DomainError
from welfare.models import Actor
from welfare.web import get_database, get_settings

TOTP_ATTEMPTS = 3  # a mistyped code may be tried again; the secret shown stays the same


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
        fail(exc)
    click.echo(str(member.id))


@staff.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input")
@with_appcontext
def staff_reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME (a forgotten one): ends their sessions, lifts a lockout,
    and is recorded in the rights chain. Without --password-stdin, a random one is made and
    printed once, to hand over in person."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else secrets.token_urlsafe(12)
    try:
        with get_database().new_session() as session:
            member = staff_service.get_staff_by_username(session, username)
            staff_service.reset_password(
                session,
                actor=Actor.system("cli"),
                staff_id=member.id,
                new_password=password,
                hasher=make_hasher(get_settings().argon2_profile),
                now=datetime.now(UTC),
            )
    except DomainError as exc:
        fail(exc)
    click.echo(f"password reset for {username}; their sessions have ended")
    if not password_stdin:
        click.echo(f"new password (shown once): {password}")


@staff.command("unlock")
@click.argument("username")
@with_appcontext
def staff_unlock(username: str) -> None:
    """Lift USERNAME's lockout after too many failed logins (recorded in the rights chain)."""
    try:
        with get_database().new_session() as session:
            member = staff_service.get_staff_by_username(session, username)
            staff_service.unlock_staff(
                session, actor=Actor.system("cli"), staff_id=member.id, now=datetime.now(UTC)
            )
    except DomainError as exc:
        fail(exc)
    click.echo(f"{username} unlocked")


@staff.command("totp")
@click.argument("username")
@with_appcontext
def staff_totp(username: str) -> None:
    """Enrol a second factor (TOTP) for a staff member, e.g. a supervisor or admin before their
    first production login. Prints the otpauth URI and the secret once, then asks for a current
    code from the authenticator app; nothing changes until a code matches."""
    try:
        with get_database().new_session() as session:
            member = staff_service.get_staff_by_username(session, username)
            member_id, name, is_gateway = member.id, member.username, member.role == "gateway"
    except DomainError as exc:
        fail(exc)
    if is_gateway:
        raise click.UsageError("a gateway account logs in with a token, not a second factor")
    secret = second_factor.new_secret()
    click.echo(second_factor.provisioning_uri(secret, name))
    click.echo(f"secret: {secret}")
    for _attempt in range(TOTP_ATTEMPTS):
        code = click.prompt("인증 앱의 현재 코드 (current code)", err=True)
        try:
            with get_database().new_session() as session:
                enrolled = second_factor.enrol_by_operator(
                    session, staff_id=member_id, secret=secret, code=code, now=datetime.now(UTC)
                )
        except DomainError as exc:
            fail(exc)
        if enrolled:
            click.echo("2단계 인증이 등록되었습니다 (second factor enrolled)", err=True)
            return
        click.echo("코드가 맞지 않습니다 (wrong code)", err=True)
    click.echo("welfare: 등록하지 않았습니다 (nothing enrolled: no code matched)", err=True)
    sys.exit(1)


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
            plaintext, _token = tokens_service.issue_token(
                session,
                actor=None,
                staff_id=member.id,
                label=label,
                now=datetime.now(UTC),
                lifetime=get_settings().api_token_lifetime,
            )
    except DomainError as exc:
        fail(exc)
    click.echo(plaintext)
