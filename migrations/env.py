"""Alembic environment: uses the caller's connection, or the URL from the app's settings."""

from __future__ import annotations

import re
from typing import Any

from alembic import context
from sqlalchemy import Connection

from config import Settings
from welfare.database import make_engine
from welfare.models import Base

config = context.config
target_metadata = Base.metadata


def _for_this_dialect(dialect: str) -> Any:
    """Compare an object declared with `ddl_if(dialect=...)` only on that dialect (e.g. the
    PostgreSQL-only GIN index on audit_events.resident_ids)."""

    def include_object(obj: Any, _name: Any, _type: str, reflected: bool, _other: Any) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        if reflected or condition is None or condition.dialect is None:
            return True
        wanted = condition.dialect
        return dialect == wanted if isinstance(wanted, str) else dialect in wanted

    return include_object


# PostgreSQL's monthly partitions of audit_events and contacts (migration 0020,
# services/partitions.py): made and dropped by the `partitions` and retention jobs, never
# declared in the models, so the comparison leaves them (and their indexes) out. Their parents
# are compared like any table; what differs there from SQLite is declared with `ddl_if`.
PARTITION_NAME = re.compile(r"^(audit_events|contacts)_(p\d{6}|default)$")


def _not_a_partition(name: str | None, type_: str, _parent: Any) -> bool:
    return not (type_ == "table" and name is not None and PARTITION_NAME.match(name))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_for_this_dialect(connection.dialect.name),
        include_name=_not_a_partition,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # BEGIN IMMEDIATE (welfare.database) makes SQLite DDL transactional too.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `welfare db upgrade`.")
run_migrations_online()
