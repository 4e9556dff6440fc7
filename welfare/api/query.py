"""Query strings carry only what a route declares; anything else is a 422 on every route.

Personal data must never travel in a URL: URLs end up in proxy logs, browser history and Referer
headers (docs/security-model.md, "Query strings carry no personal data"). A client that sends `GET
/api/v1/residents?name=…` anyway must be told, not answered with the unfiltered list as if the
filter had applied. So after the route's policy has passed (an anonymous caller still gets 401
first), any query parameter the matched handler did not declare is refused with a field error that
names the parameter and never repeats its value. Nothing here logs: the request log records only
the route template.
"""

from __future__ import annotations

from flask import Flask, current_app, request

from welfare.api.blueprint import declared_query_params
from welfare.api.policy import view_handler
from welfare.errors import InvalidInput

UNKNOWN_PARAMETER = "알 수 없는 항목입니다 (unknown field)"


def _refuse_undeclared_query_params() -> None:
    endpoint = request.endpoint
    if endpoint is None or request.method == "OPTIONS" or not request.args:
        return  # routing failed (404/405 follow), Flask's own OPTIONS answer, or nothing sent
    declared = declared_query_params(view_handler(current_app, endpoint, request.method))
    unknown = sorted(set(request.args) - declared)
    if unknown:
        raise InvalidInput({name: [UNKNOWN_PARAMETER] for name in unknown})


def init_app(app: Flask) -> None:
    """Register after `security.init_app`: before_request hooks run in registration order."""
    app.before_request(_refuse_undeclared_query_params)
