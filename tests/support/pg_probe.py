"""Exit 0 when the PostgreSQL at the given URL answers, 1 otherwise (used by `make test`)."""

from __future__ import annotations

import sys

import psycopg

from config.settings import with_psycopg_driver


def main(url: str) -> int:
    host = url.rsplit("@", maxsplit=1)[-1]
    dsn = with_psycopg_driver(url).replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        print(  # noqa: T201 - a command-line probe
            f"PostgreSQL at {host} did not answer: {type(exc).__name__}"
        )
        return 1
    print(  # noqa: T201 - a command-line probe
        f"PostgreSQL at {host} answers"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
