"""The one error of identity validation: a stable code and a Korean-first message."""

from __future__ import annotations


class IdentityError(ValueError):
    """Invalid identity data. The message never repeats the input (it is personal data)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
