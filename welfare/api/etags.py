"""ETag / If-Match on versioned rows: a stale write gets 412 and nothing is lost."""

from __future__ import annotations

import re
from typing import Any

from flask import Request, Response, jsonify

from welfare.errors import DomainError, PreconditionRequired

_ETAG = re.compile(r'^(?:W/)?"v(\d{1,12})"$')


def etag_for(version: int) -> str:
    return f'"v{version}"'


def if_match_version(request: Request, *, required: bool = True) -> int | None:
    """The version the client last saw, from If-Match; required for updates."""
    raw = request.headers.get("If-Match")
    if raw is None:
        if required:
            raise PreconditionRequired
        return None
    value = raw.strip()
    if value == "*":
        # "*" matches whatever is stored now: it would overwrite a colleague's edit unseen.
        raise PreconditionRequired(
            'If-Match: * 는 쓸 수 없습니다. 마지막으로 받은 ETag 값(예: "v3")을 보내세요 '
            '(a specific ETag is required, not "*": send the ETag of the version you read)',
            code="if_match_wildcard",
        )
    match = _ETAG.match(value)
    if match is None:
        raise DomainError(
            "If-Match 형식이 잘못되었습니다. "
            '응답의 ETag 값을 따옴표까지 그대로 보내세요 (예: "v3") '
            "(malformed If-Match: send the ETag from the response as it is, quotes included)",
            code="if_match_malformed",
        )
    return int(match.group(1))


def set_etag(body: Any, version: int, status: int = 200, *, location: str | None = None) -> Any:
    """A (body, status, headers) triple that flask-smorest serializes with the schema."""
    headers = {"ETag": etag_for(version)}
    if location:
        headers["Location"] = location
    return body, status, headers


__all__ = ["Response", "etag_for", "if_match_version", "jsonify", "set_etag"]
