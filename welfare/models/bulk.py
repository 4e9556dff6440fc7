"""Many rows into one table in one statement: arrays unnested on PostgreSQL, executemany on SQLite.

SQLAlchemy sends an executemany to psycopg either as one single-row INSERT per row (pipelined:
a round trip's worth of server work per row) or, with RETURNING, as a multi-row `VALUES` list of
rows x columns parameters. psycopg caches the parsing of a statement only up to 4 KiB and 50
parameters, so a 1,000-row `VALUES` list of 17 columns (17,000 placeholders, half a megabyte of
SQL) is parsed again in Python on every call, and PostgreSQL plans it again too: in the
follow-up tick that was nine tenths of the INSERT's time. Here PostgreSQL gets one short
statement with one array parameter per column:

    INSERT INTO t (a, b) SELECT * FROM unnest(CAST(:a AS UUID[]), CAST(:b AS VARCHAR[]))

which psycopg parses once and dumps in C, and PostgreSQL plans as a function scan. Every value
still goes through its column's SQLAlchemy type (the array type applies the item type's bind
processing), so what lands is what the ORM would write. SQLite's executemany already runs the
one prepared statement per row in C, so SQLite keeps it.

`copy_rows` is for rows that need neither RETURNING nor conflict handling (the resident import):
on PostgreSQL it sends them with `COPY ... FROM STDIN`, each row formatted by psycopg in C. An
array of `bytea` goes through psycopg's Python list dumper, which escapes every element with a
regular expression: for the import's nine binary columns that was three quarters of the
insert's time, and COPY writes the same values for a quarter of it.
"""

from __future__ import annotations

import json
import operator
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from sqlalchemy import (
    JSON,
    LargeBinary,
    Row,
    Select,
    String,
    Table,
    bindparam,
    cast,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from welfare.models.base import UTCDateTime, utc_sqlite_text


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[Any] = (),  # columns (or ORM attributes) of `table`
    skip_conflicts_on: Sequence[str] = (),
    conflict_where: TextClause | None = None,
) -> Sequence[Row[Any]]:  # each Row a tuple of the `returning` columns
    """Insert `rows` (each with the same keys) into `table`; the `returning` columns of the
    rows inserted. With `skip_conflicts_on`, a row that conflicts with the unique index on those
    columns (partial: `conflict_where`) is skipped (ON CONFLICT DO NOTHING) and not returned."""
    if not rows:
        return []
    names = list(rows[0])
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        pg_stmt = postgresql.insert(table).from_select(names, _unnested(table, names, rows))
        if skip_conflicts_on:
            pg_stmt = pg_stmt.on_conflict_do_nothing(
                index_elements=list(skip_conflicts_on), index_where=conflict_where
            )
        if returning:
            return session.execute(pg_stmt.returning(*returning)).all()
        session.execute(pg_stmt)
        return []
    return _sqlite_insert(
        session,
        table,
        names,
        rows,
        returning=returning,
        skip_conflicts_on=tuple(skip_conflicts_on),
        conflict_where=conflict_where,
    )


def _sqlite_insert(
    session: Session,
    table: Table,
    names: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[Any],
    skip_conflicts_on: tuple[str, ...],
    conflict_where: TextClause | None,
) -> Sequence[Row[Any]]:
    """One executemany of the driver (sqlite3 runs the prepared statement per row in C), the
    values converted by their columns' own bind processors; SQLAlchemy's executemany spent
    more time preparing each row's parameters than SQLite spent inserting it. RETURNING
    cannot ride an executemany, so the inserted rows are read back by primary key."""
    connection = session.connection()
    sql, processors = _sqlite_statement(
        connection.dialect, table, tuple(names), skip_conflicts_on, conflict_where
    )
    connection.exec_driver_sql(sql, _converted(rows, names, processors))
    if not returning:
        return []
    (key,) = table.primary_key.columns
    ids = [row[key.name] for row in rows]
    return session.execute(select(*returning).where(key.in_(ids))).all()


def _converted(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str], processors: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Each row's values in `names` order, each through its column's processor (None passes
    as it is). Only the columns with a processor are visited (four of a resident row's 19),
    and a datetime processor (3.6 us a value on SQLite) runs once per distinct value of the
    batch: its rows mostly share their timestamps."""
    take = operator.itemgetter(*names)
    converting: list[tuple[int, Any, dict[Any, Any] | None]] = [
        (i, process, {} if getattr(process, "repeats", False) else None)
        for i, process in enumerate(processors)
        if process is not None
    ]
    converted: list[tuple[Any, ...]] = []
    append = converted.append
    for row in rows:
        values = list(take(row)) if len(names) > 1 else [row[names[0]]]
        for i, process, seen in converting:
            value = values[i]
            if value is None:
                continue
            if seen is None:
                values[i] = process(value)
            else:
                done = seen.get(value)
                values[i] = seen[value] = process(value) if done is None else done
        append(tuple(values))
    return converted


def _datetimes_repeat(process: Any) -> Any:
    """`process` (a datetime column's) marked for `_converted` to call once per distinct value:
    equal datetimes are one instant, which a UTC column binds one way."""
    if process is None:
        return None

    def once(value: Any) -> Any:
        return process(value)

    once.repeats = True  # type: ignore[attr-defined]
    return once


_SQLITE_STATEMENTS: dict[tuple[Any, ...], tuple[str, list[Any]]] = {}


def _sqlite_statement(
    dialect: Any,
    table: Table,
    names: tuple[str, ...],
    skip_conflicts_on: tuple[str, ...],
    conflict_where: TextClause | None,
) -> tuple[str, list[Any]]:
    """The positional INSERT and each column's bind processor, made once per shape."""
    key = (table.name, names, skip_conflicts_on, str(conflict_where))
    found = _SQLITE_STATEMENTS.get(key)
    if found is None:
        stmt: Any = sqlite.insert(table)
        if skip_conflicts_on:
            stmt = stmt.on_conflict_do_nothing(
                index_elements=list(skip_conflicts_on), index_where=conflict_where
            )
        compiled = stmt.compile(dialect=dialect, column_keys=list(names))
        if list(compiled.positiontup or ()) != list(names):
            raise AssertionError(f"unexpected parameter order for {table.name}")
        processors = [_sqlite_processor(dialect, table.c[name].type) for name in names]
        found = _SQLITE_STATEMENTS[key] = (str(compiled), processors)
    return found


def _sqlite_processor(dialect: Any, column_type: Any) -> Any:
    """A column's bind processor on SQLite, or None when the driver takes the value as it is.

    `LargeBinary` wraps each value in `sqlite3.Binary` (a memoryview), which sqlite3 binds as
    the same BLOB it binds `bytes` as; with nine binary columns the wrappers (garbage-collected
    objects, one per value) cost the resident import more than SQLite spent inserting the row.
    """
    if isinstance(column_type, UTCDateTime):
        return _datetimes_repeat(utc_sqlite_text)
    if type(column_type) is LargeBinary:
        return None
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def copy_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (each with the same keys) into `table`, nothing returned, no conflict
    skipped: `COPY FROM STDIN` on PostgreSQL, `insert_rows` on SQLite (and for JSON columns).

    A constraint the rows break raises SQLAlchemy's `IntegrityError`, as `insert_rows` does,
    and leaves the transaction to be rolled back.
    """
    if not rows:
        return
    names = tuple(rows[0])
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or any(isinstance(table.c[n].type, JSON) for n in names):
        insert_rows(session, table, rows)
        return
    sql, processors = _copy_statement(dialect, table, names)
    driver: Any = connection.connection.driver_connection
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            write = copy.write_row
            for values in _converted(rows, names, processors):
                write(values)
    except dbapi_error as exc:
        # What SQLAlchemy raises for the same error from execute(): IntegrityError for a
        # unique violation, and so on.
        raise DBAPIError.instance(sql, None, exc, dbapi_error) from exc


_COPY_STATEMENTS: dict[tuple[str, tuple[str, ...]], tuple[str, list[Any]]] = {}


def _copy_statement(dialect: Any, table: Table, names: tuple[str, ...]) -> tuple[str, list[Any]]:
    """The COPY statement and each column's bind processor (bytes go to psycopg as they are:
    `LargeBinary` only wraps them for the driver), made once per shape."""
    key = (table.name, names)
    found = _COPY_STATEMENTS.get(key)
    if found is None:
        quote = dialect.identifier_preparer
        columns = ", ".join(quote.quote(name) for name in names)
        sql = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
        processors = [_copy_processor(dialect, table.c[name].type) for name in names]
        found = _COPY_STATEMENTS[key] = (sql, processors)
    return found


def _copy_processor(dialect: Any, column_type: Any) -> Any:
    if type(column_type) is LargeBinary:
        return None
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return _datetimes_repeat(process) if isinstance(column_type, UTCDateTime) else process


_POSTGRESQL: Any = postgresql.dialect()  # type: ignore[no-untyped-call]


def _unnested(table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Select[Any]:
    """`SELECT * FROM ROWS FROM (unnest(:a), ..., json_array_elements(:j)) AS r(a, ..., j)`.

    An array per column, except JSON columns: psycopg dumps a JSON array element by element
    in Python, escaping every quote (25 ms for 1,000 small documents), so the JSON columns'
    values go as one JSON document that PostgreSQL splits (2 ms). ROWS FROM zips the functions
    row by row.
    """
    functions: list[str] = []
    params: list[Any] = []
    for name in names:
        column_type = table.c[name].type
        values = [row[name] for row in rows]
        key = f"bulk_{name}"
        if isinstance(column_type, JSON):
            params.append(bindparam(key, values, type_=JSON(none_as_null=True)))
            functions.append(f"json_array_elements(CAST(:{key} AS JSON))")
        else:
            array_type: Any = postgresql.ARRAY(column_type)
            params.append(bindparam(key, values, type_=array_type))
            sql_type = column_type.compile(dialect=_POSTGRESQL)
            functions.append(f"unnest(CAST(:{key} AS {sql_type}[]))")
    source = text(
        f"ROWS FROM ({', '.join(functions)}) AS bulk_rows ({', '.join(names)})"
    ).bindparams(*params)
    columns: list[Any] = [literal_column(f"bulk_rows.{name}") for name in names]
    selected: Select[Any] = select(*columns).select_from(source)
    return selected


# Column-wise inserts: the follow-up tick raises thousands of rows whose values mostly repeat
# (the state, the run, the instant) or are fresh ids and ready-made JSON; converting them value
# by value through row dicts and bind processors cost more than the database spent on them.


@dataclass(frozen=True, slots=True)
class Same:
    """One value for every row of a column, converted once."""

    value: Any


@dataclass(frozen=True, slots=True)
class UuidHex:
    """UUIDs as 32 lowercase hex digits (what SQLite stores for a `Uuid` column), e.g. from
    `fresh_uuid_hex`."""

    values: Sequence[str]


@dataclass(frozen=True, slots=True)
class JsonText:
    """JSON documents already serialized by `json_serializer(dialect)`, one per row."""

    values: Sequence[str]


@dataclass(frozen=True, slots=True)
class SqliteText:
    """Values exactly as SQLite's driver binds them for the column (e.g. a `UTCDateTime` as
    `utc_sqlite_text` writes it, from `stored_datetime_text`): SQLite only."""

    values: Sequence[str | None]


ColumnValues = Sequence[Any] | Same | UuidHex | JsonText | SqliteText

_CANONICAL_HEX = re.compile(r"[0-9a-f]{32}")
_CANONICAL_DATETIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
_SQLITE: Any = sqlite.dialect()
_UTC_RESULT = UTCDateTime().dialect_impl(_SQLITE).result_processor(_SQLITE, None)


def stored_uuid_hex(value: str) -> str:
    """What a `Uuid` column read on SQLite (`uuid.UUID(value)`) binds again: `value` itself when
    it is the 32 lowercase hex digits SQLAlchemy stores, else the UUID it spells as such."""
    return value if _CANONICAL_HEX.fullmatch(value) else uuid.UUID(value).hex


def _stored_datetime(value: str) -> Any:
    """A `UTCDateTime` column's stored text on SQLite as the column reads it."""
    return _UTC_RESULT(value) if _UTC_RESULT is not None else value


def stored_datetime_text(value: str) -> str:
    """What a `UTCDateTime` column read on SQLite binds again (`utc_sqlite_text`): `value`
    itself when it is in that form (naive UTC, microseconds always), else its instant so."""
    if _CANONICAL_DATETIME.fullmatch(value):
        return value
    return utc_sqlite_text(_stored_datetime(value))


def stored_datetime_iso(value: str) -> str:
    """`isoformat()` of what a `UTCDateTime` column read on SQLite gives for `value` (an aware
    UTC datetime: `T`, no fraction when it is zero, `+00:00`), without building it."""
    if not _CANONICAL_DATETIME.fullmatch(value):
        return str(_stored_datetime(value).isoformat())
    fraction = "" if value.endswith(".000000") else value[19:]
    return f"{value[:10]}T{value[11:19]}{fraction}+00:00"


_HEX = "0123456789abcdef"
_VARIANT = {digit: _HEX[8 + (i & 3)] for i, digit in enumerate(_HEX)}  # 10xx, RFC 4122


def fresh_uuid_hex(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as hex, what `uuid.uuid4().hex` gives, from one
    `os.urandom` call: building a `uuid.UUID` per id cost more than inserting its row."""
    raw = os.urandom(16 * count).hex()
    return [
        f"{raw[k : k + 12]}4{raw[k + 13 : k + 16]}{_VARIANT[raw[k + 16]]}{raw[k + 17 : k + 32]}"
        for k in range(0, 32 * count, 32)
    ]


def dashed(hex_id: str) -> str:
    """`str(uuid.UUID(hex=hex_id))` without building the UUID."""
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def json_serializer(dialect: Any) -> Any:
    """What a `JSON` column's bind processing serializes with on `dialect`."""
    return getattr(dialect, "_json_serializer", None) or json.dumps


def insert_columns(
    session: Session,
    table: Table,
    count: int,
    columns: Mapping[str, ColumnValues],
    *,
    skip_conflicts_on: Sequence[str] = (),
    conflict_where: TextClause | None = None,
) -> Sequence[int]:
    """Insert `count` rows given column by column (each a sequence of `count` values, or
    `Same`, `UuidHex`, `JsonText`); the positions of the rows inserted, in order. One
    statement per call (SQLite: one executemany, and one read-back only when a conflict on
    `skip_conflicts_on` skipped some rows, which needs the primary key as `UuidHex`). Values in
    plain sequences and `Same` go through their column's type as `insert_rows` sends them."""
    if count == 0:
        return []
    names = list(columns)
    (key,) = table.primary_key.columns
    if session.get_bind().dialect.name == "postgresql":
        return _postgresql_columns(
            session,
            table,
            count,
            columns,
            key=key.name,
            skip_conflicts_on=skip_conflicts_on,
            conflict_where=conflict_where,
        )
    connection = session.connection()
    dialect = connection.dialect
    sql, processors = _sqlite_statement(
        dialect, table, tuple(names), tuple(skip_conflicts_on), conflict_where
    )
    prepared = [
        _sqlite_values(columns[name], process, count)
        for name, process in zip(names, processors, strict=True)
    ]
    for values in prepared:
        if not isinstance(values, repeat) and len(values) != count:
            raise ValueError(f"{table.name}: a column has {len(values)} values, not {count}")
    result = connection.exec_driver_sql(sql, list(zip(*prepared, strict=False)))
    # sqlite3 sums an executemany's changes; a row skipped by ON CONFLICT DO NOTHING adds none.
    if result.rowcount == count or not skip_conflicts_on:
        return range(count)
    ids = columns[key.name]
    if not isinstance(ids, UuidHex):
        raise TypeError(f"{table.name}: skipping conflicts needs the primary key as UuidHex")
    found: set[str] = set()
    for start in range(0, count, 500):  # SQLite's bound-parameter limit, with room to spare
        page = [uuid.UUID(hex=value) for value in ids.values[start : start + 500]]
        found.update(value.hex for value in session.scalars(select(key).where(key.in_(page))))
    return [position for position, value in enumerate(ids.values) if value in found]


def _sqlite_values(given: ColumnValues, process: Any, count: int) -> Any:
    """One column's values as the driver takes them (a `Same` repeated lazily)."""
    if isinstance(given, Same):
        value = given.value
        return repeat(value if value is None or process is None else process(value), count)
    if isinstance(given, UuidHex | JsonText | SqliteText):
        return given.values
    if process is None:
        return given
    if getattr(process, "repeats", False):  # a few distinct instants, mostly: convert each once
        distinct: dict[Any, Any] = {v: process(v) for v in set(given) if v is not None}
        distinct[None] = None
        return [distinct[value] for value in given]
    return [None if value is None else process(value) for value in given]


def _postgresql_columns(
    session: Session,
    table: Table,
    count: int,
    columns: Mapping[str, ColumnValues],
    *,
    key: str,
    skip_conflicts_on: Sequence[str],
    conflict_where: TextClause | None,
) -> Sequence[int]:
    """One `INSERT ... SELECT FROM ROWS FROM (...)`: a list column as an array (as
    `_unnested`), hex UUIDs as one comma-joined string PostgreSQL splits, JSON text as one
    document PostgreSQL splits, and a `Same` column as one parameter in the select list."""
    functions: list[str] = []
    unnested: list[str] = []
    params: list[Any] = []
    selected: list[Any] = []
    names = list(columns)
    for name in names:
        given = columns[name]
        column_type = table.c[name].type
        param = f"bulk_{name}"
        if isinstance(given, Same):
            selected.append(cast(bindparam(param, given.value, type_=column_type), column_type))
            continue
        if isinstance(given, SqliteText):
            raise TypeError(f"{table.name}.{name}: SqliteText is SQLite's stored form")
        if isinstance(given, UuidHex):
            params.append(bindparam(param, ",".join(given.values), type_=String()))
            functions.append(
                f"unnest(CAST(string_to_array(CAST(:{param} AS TEXT), ',') AS UUID[]))"
            )
        elif isinstance(given, JsonText):
            params.append(bindparam(param, f"[{','.join(given.values)}]", type_=String()))
            functions.append(f"json_array_elements(CAST(:{param} AS JSON))")
        elif isinstance(column_type, JSON):
            params.append(bindparam(param, list(given), type_=JSON(none_as_null=True)))
            functions.append(f"json_array_elements(CAST(:{param} AS JSON))")
        else:
            params.append(bindparam(param, list(given), type_=postgresql.ARRAY(column_type)))
            sql_type = column_type.compile(dialect=_POSTGRESQL)
            functions.append(f"unnest(CAST(:{param} AS {sql_type}[]))")
        unnested.append(name)
        selected.append(literal_column(f"bulk_rows.{name}"))
    if not functions:
        raise ValueError("insert_columns needs at least one column that varies")
    source = text(
        f"ROWS FROM ({', '.join(functions)}) AS bulk_rows ({', '.join(unnested)})"
    ).bindparams(*params)
    stmt = postgresql.insert(table).from_select(list(names), select(*selected).select_from(source))
    if skip_conflicts_on:
        stmt = stmt.on_conflict_do_nothing(
            index_elements=list(skip_conflicts_on), index_where=conflict_where
        )
        ids = columns[key]
        if not isinstance(ids, UuidHex):
            raise TypeError(f"{table.name}: skipping conflicts needs the primary key as UuidHex")
        returned: Any = session.execute(
            stmt.returning(literal_column(f"replace(CAST({key} AS TEXT), '-', '')"))
        ).scalars()
        inserted = set(returned)
        if len(inserted) == count:
            return range(count)
        return [position for position, value in enumerate(ids.values) if value in inserted]
    session.execute(stmt)
    return range(count)
