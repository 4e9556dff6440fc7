"""The `welfare` console script: a Flask command group that builds the app with its factory."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from config import SettingsError
from welfare.app import create_app
from welfare.crypto.keyring import KeyringError


def _create_app() -> Flask:
    try:
        return create_app()
    except (SettingsError, KeyringError) as exc:
        # Unsafe or missing settings are the operator's to fix: one line, no traceback.
        click.echo(f"welfare: {exc}", err=True)
        sys.exit(2)


@click.group(
    cls=FlaskGroup,
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
)
def main() -> None:
    """Geumcheon Welfare: case management for the district's welfare safety net."""
