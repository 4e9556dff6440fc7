"""Domain errors with a stable English code and a Korean-first message; no HTTP here.

Services raise these; the API maps each to a status in one place. Messages never contain
personal data: they describe what went wrong, not whose data it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a use case may raise on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "잘못된 요청입니다 (bad request)"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code  # type: ignore[misc]  # this instance's code overrides its class's
        self.extra: dict[str, Any] = dict(extra or {})


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "찾을 수 없습니다 (not found)"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "이미 존재하거나 현재 상태와 충돌합니다 (conflict)"


class RuleViolation(DomainError):
    """The request is well formed but breaks a business rule (e.g. closing a closed case)."""

    status = 409
    code = "rule_violation"
    title = "업무 규칙에 맞지 않는 요청입니다 (rule violation)"


class PreconditionFailed(DomainError):
    status = 412
    code = "precondition_failed"
    title = "다른 사용자가 먼저 수정했습니다. 다시 불러온 뒤 시도하세요 (stale version)"


class PreconditionRequired(DomainError):
    status = 428
    code = "precondition_required"
    title = "If-Match 헤더가 필요합니다 (If-Match required)"


class Gone(DomainError):
    status = 410
    code = "gone"
    title = "파기된 정보입니다 (erased)"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "권한이 없습니다 (forbidden)"


class InvalidInput(DomainError):
    """Field-level validation that only the domain can do (RRN date, dong code, ...)."""

    status = 422
    code = "validation_failed"
    title = "입력값을 확인하세요 (validation failed)"

    def __init__(self, errors: Mapping[str, list[str]], detail: str | None = None) -> None:
        super().__init__(detail)
        self.errors = {k: list(v) for k, v in errors.items()}
