"""Every error becomes `application/problem+json` with a Korean title and a stable English code."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Response, g, json
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from welfare.database import is_unavailable
from welfare.errors import DomainError, InvalidInput

log = logging.getLogger("welfare.errors")

PROBLEM_MIMETYPE = "application/problem+json"
RETRY_AFTER_SECONDS = "5"

# status -> (code, Korean-first title)
_HTTP_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "요청 형식이 올바르지 않습니다 (bad request)"),
    401: ("unauthenticated", "로그인이 필요합니다 (authentication required)"),
    403: ("forbidden", "권한이 없습니다 (forbidden)"),
    404: ("not_found", "찾을 수 없습니다 (not found)"),
    405: ("method_not_allowed", "허용되지 않는 메서드입니다 (method not allowed)"),
    409: ("conflict", "현재 상태와 충돌합니다 (conflict)"),
    410: ("gone", "파기된 정보입니다 (erased)"),
    412: ("precondition_failed", "다른 사용자가 먼저 수정했습니다 (stale version)"),
    413: ("body_too_large", "요청 본문이 너무 큽니다 (request body too large)"),
    415: (
        "unsupported_media_type",
        "JSON(application/json)으로 보내 주세요 (unsupported media type)",
    ),
    422: ("validation_failed", "입력값을 확인하세요 (validation failed)"),
    428: ("precondition_required", "If-Match 헤더가 필요합니다 (If-Match required)"),
    429: ("too_many_requests", "요청이 너무 많습니다. 잠시 후 다시 시도하세요 (too many requests)"),
    500: ("internal_error", "서버 오류가 발생했습니다. 요청 ID를 알려 주세요 (internal error)"),
    503: ("unavailable", "일시적으로 사용할 수 없습니다 (service unavailable)"),
}


def problem(
    status: int,
    *,
    code: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    include_request_id: bool = True,
    **extra: Any,
) -> Response:
    default_code, default_title = _HTTP_PROBLEMS.get(status, ("error", "오류 (error)"))
    body: dict[str, Any] = {
        "type": f"urn:geumcheon-welfare:problem:{code or default_code}",
        "title": title or default_title,
        "status": status,
        "code": code or default_code,
    }
    if include_request_id:
        body["request_id"] = g.get("request_id")
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    # Field names are echoed back, and JSON lets a client name a field with a lone surrogate
    # ("\ud800"), which UTF-8 cannot encode: write such characters as JSON escapes again.
    data = json.dumps(body).encode("utf-8", "backslashreplace")
    response = Response(data, status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data: dict[str, Any] = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    if status >= 500:
        original = getattr(error, "original_exception", None)
        if isinstance(error, InternalServerError) and original is not None:
            log_unexpected(original)
        return problem(status, headers=headers)
    messages = data.get("messages")
    if status == 400 and messages and "json" in messages:
        return problem(
            400,
            code="malformed_json",
            title="JSON 본문을 해석할 수 없습니다 (malformed JSON)",
            headers=headers,
        )
    if status == 422 and messages:
        return problem(422, errors=_flatten(messages), headers=headers)
    return problem(status, detail=data.get("message"), headers=headers)


def from_domain_error(error: DomainError) -> Response:
    errors = error.errors if isinstance(error, InvalidInput) else None
    detail = error.detail if error.detail != error.title else None
    return problem(
        error.status,
        code=error.code,
        title=error.title,
        detail=detail,
        errors=errors,
        headers={"Retry-After": RETRY_AFTER_SECONDS} if error.status == 503 else None,
        **error.extra,
    )


def from_database_error(error: SQLAlchemyError) -> Response:
    """The database cannot serve now (unreachable, restarting, refusing writes, locked): 503
    with Retry-After, and the request's transaction rolled back, so nothing is half written.
    Any other database error is a bug: 500, logged like every unexpected error."""
    if not is_unavailable(error):
        log_unexpected(error)
        return problem(500)
    log.warning(
        "database unavailable",
        extra={"error_type": type(getattr(error, "orig", None) or error).__name__},
    )
    return problem(
        503,
        code="database_unavailable",
        title="데이터베이스에 일시적으로 연결할 수 없습니다. 잠시 후 다시 시도하세요 "
        "(database unavailable; retry shortly)",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _flatten(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {...}}); clients want field -> messages."""
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def log_unexpected(exc: BaseException) -> None:
    # The exception text can embed values (e.g. a database error detail): log its type and
    # where it happened, never its message.
    frames = traceback.format_tb(exc.__traceback__)
    log.error(
        "unexpected error",
        extra={"error_type": type(exc).__qualname__, "traceback": "".join(frames[-8:])},
    )
