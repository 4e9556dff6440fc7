"""The Blueprint every API module uses: flask-smorest's, with a JSON parser that never fails.

webargs decodes request bodies with `json.loads` and turns only JSONDecodeError into a 400.
Two well-formed bodies well within the size limit raise something else, which would answer
500: a few thousand `[` (json recurses once per level: RecursionError) and an integer of more
than 4300 digits (Python's int conversion limit: ValueError). This parser reports both as
malformed JSON, like any other undecodable body.
"""

from __future__ import annotations

import json
from typing import Any

import flask
import flask_smorest
from webargs.flaskparser import FlaskParser


class JsonParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise  # webargs answers these itself
        except (RecursionError, ValueError) as exc:
            # A non-empty `doc`: webargs treats an empty one as "no body".
            raise json.JSONDecodeError(type(exc).__name__, "<request body>", 0) from None


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # untyped base (flask-smorest)
    ARGUMENTS_PARSER = JsonParser()
