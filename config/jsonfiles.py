"""Reading and checking the JSON reference files: each problem names the file, the entry and why.

The loaders in `config.ladders` and `config.casework` build their records from these checks. Every
check either returns the value with its type narrowed or raises `ReferenceDataError` with the
message `"<file>: <where>: <problem>"`, so a malformed file fails at load, not mid-request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, NoReturn

_CODE = re.compile(r"[a-z][a-z0-9_]*")


class ReferenceDataError(ValueError):
    """A reference file is malformed; the message names the file, the entry and the problem."""


def read_object(path: Path) -> dict[str, Any]:
    """The file's top-level JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReferenceDataError(f"{path}: cannot be read ({error.strerror})") from error
    except ValueError as error:  # JSONDecodeError and undecodable bytes alike
        raise ReferenceDataError(f"{path}: is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        fail(path, "top level", "expected a JSON object")
    return data


def expect_fields(
    path: Path, where: str, raw: object, required: set[str], optional: Collection[str] = ()
) -> dict[str, Any]:
    """The entry as a dict, refusing missing and unknown fields ("_comment" and the like pass)."""
    if not isinstance(raw, dict):
        fail(path, where, "expected a JSON object")
    missing = sorted(required - raw.keys())
    if missing:
        fail(path, where, f"missing {', '.join(missing)}")
    unknown = sorted(
        key for key in raw if not key.startswith("_") and key not in required | set(optional)
    )
    if unknown:
        fail(path, where, f"unknown field {', '.join(unknown)}")
    return raw


def expect_list(path: Path, where: str, raw: object) -> list[object]:
    if not isinstance(raw, list):
        fail(path, where, "expected a JSON list")
    return raw


def expect_code(path: Path, where: str, raw: object) -> str:
    """A machine code: lower-case letters, digits and underscores, starting with a letter."""
    if not isinstance(raw, str) or not _CODE.fullmatch(raw):
        fail(path, where, f"{raw!r} is not a code (lower-case letters, digits, underscores)")
    return raw


def expect_text(path: Path, where: str, name: str, raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        fail(path, where, f"{name} must be non-empty text")
    return raw


def expect_positive(path: Path, where: str, name: str, entry: Mapping[str, Any]) -> float:
    """`entry[name]` as a float, refusing booleans, non-numbers, zero and negatives."""
    raw = entry[name]
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not raw > 0:
        fail(path, where, f"{name} must be a positive number, not {raw!r}")
    return float(raw)


def fail(path: Path, where: str, problem: str) -> NoReturn:
    raise ReferenceDataError(f"{path}: {where}: {problem}")
