"""Validation and normal forms of Korean identity data: RRNs, phone numbers and names.

Pure functions and values: no Flask, no database. Every refusal is an `IdentityError` with a
stable English code and a Korean-first message that never repeats the input.
"""

from __future__ import annotations

from welfare.identity.errors import IdentityError
from welfare.identity.names import MAX_NAME_LENGTH, normalize_name
from welfare.identity.phone import format_phone, normalize_phone
from welfare.identity.rrn import Rrn, Sex, parse_rrn

__all__ = [
    "MAX_NAME_LENGTH",
    "IdentityError",
    "Rrn",
    "Sex",
    "format_phone",
    "normalize_name",
    "normalize_phone",
    "parse_rrn",
]
