"""The Blueprint every API module uses: flask-smorest's, with a JSON parser that never fails.

webargs decodes request bodies with `json.loads` and turns only JSONDecodeError into a 400.
Two well-formed bodies well within the size limit raise something else, which would answer
500: a few thousand `[` (json recurses once per level: RecursionError) and an integer of more
than 4300 digits (Python's int conversion limit: ValueError). This parser reports both as
malformed JSON, like any other undecodable body.

Query strings take only the parameters a route declares. webargs would drop unknown query
parameters silently (its default for every location but the body), so a client that put a name
in a URL would get an unfiltered list back and never learn; here the parser raises instead, and
each route remembers which query parameters it declared, so `welfare.api.query` can refuse the
others on every route, including those that declare none.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import flask
import flask_smorest
from marshmallow import RAISE, Schema
from webargs.flaskparser import FlaskParser

QUERY_LOCATIONS = frozenset({"query", "querystring"})
QUERY_PARAMS_ATTR = "_welfare_query_params"


class JsonParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {  # noqa: RUF012 - webargs declares it as a class attribute
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        **dict.fromkeys(QUERY_LOCATIONS, RAISE),
    }

    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise  # webargs answers these itself
        except (RecursionError, ValueError) as exc:
            # A non-empty `doc`: webargs treats an empty one as "no body".
            raise json.JSONDecodeError(type(exc).__name__, "<request body>", 0) from None


def query_param_names(schema: type[Schema] | Schema) -> frozenset[str]:
    """The names a query schema reads from the URL (a field's data_key, else its name)."""
    instance = schema() if isinstance(schema, type) else schema
    return frozenset(f.data_key or name for name, f in instance.fields.items() if not f.dump_only)


def declared_query_params(handler: Callable[..., Any] | None) -> frozenset[str]:
    """What a view function declared with `@blp.arguments(..., location="query")`; none if
    it declared no query schema."""
    declared = getattr(handler, QUERY_PARAMS_ATTR, None)
    return declared if isinstance(declared, frozenset) else frozenset()


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # untyped base (flask-smorest)
    ARGUMENTS_PARSER = JsonParser()

    def arguments(
        self, schema: type[Schema] | Schema, *, location: str = "json", **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """flask-smorest's decorator; a query schema also marks the view with its names."""
        decorate: Callable[[Callable[..., Any]], Callable[..., Any]] = super().arguments(
            schema, location=location, **kwargs
        )
        if location not in QUERY_LOCATIONS:
            return decorate
        names = query_param_names(schema)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            view = decorate(func)
            setattr(view, QUERY_PARAMS_ATTR, declared_query_params(view) | names)
            return view

        return decorator
