"""Korean identity data: resident registration numbers, phone numbers and names."""

from welfare.identity.errors import IdentityError
from welfare.identity.names import normalize_name
from welfare.identity.phone import format_phone, normalize_phone
from welfare.identity.rrn import Rrn, parse_rrn

__all__ = ["IdentityError", "Rrn", "format_phone", "normalize_name", "normalize_phone", "parse_rrn"]
