"""ETag / If-Match on versioned rows: a stale write gets 412 and nothing is lost."""

from __future__ import annotations

import re
from typing import Any

from flask import Request, Response, jsonify

from welfare.errors import PreconditionFailed, PreconditionRequired

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
    match = _ETAG.match(raw.strip())
    if match is None:
        raise PreconditionFailed
    return int(match.group(1))


def set_etag(body: Any, version: int, status: int = 200, *, location: str | None = None) -> Any:
    """A (body, status, headers) triple that flask-smorest serializes with the schema."""
    headers = {"ETag": etag_for(version)}
    if location:
        headers["Location"] = location
    return body, status, headers


__all__ = ["Response", "etag_for", "if_match_version", "jsonify", "set_etag"]
