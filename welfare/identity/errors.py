"""The one error the identity parsers raise: a stable English code and a Korean-first message.

Codes: ``rrn_format``, ``rrn_birth_date``, ``rrn_future_birth_date``, ``phone_format``,
``name_format``. Messages describe what is wrong, never the value: the input may be a resident
registration number, which 개인정보 보호법 §24-2 forbids exposing, and error text ends up in logs
and HTTP responses.
"""

from __future__ import annotations

from welfare.errors import DomainError


class IdentityError(DomainError):
    """A resident registration number, phone number or name that cannot be accepted."""

    # 422 like InvalidInput: the request is well-formed JSON, the value inside it is not.
    status = 422
    code = "identity_invalid"
    title = "입력값을 확인하세요 (validation failed)"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.message = message
