"""How a command reports a domain error: one line on standard error, exit status 1."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from welfare.errors import DomainError


def fail(exc: DomainError) -> NoReturn:
    details = "; ".join(f"{k}: {' '.join(v)}" for k, v in getattr(exc, "errors", {}).items())
    click.echo(f"welfare: {exc.detail}" + (f" ({details})" if details else ""), err=True)
    sys.exit(1)
