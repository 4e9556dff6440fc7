"""The Blueprint every API module uses: flask-smorest's, with a JSON parser that never fails.

webargs decodes request bodies with `json.loads`, which recurses once per nesting level: a body
of a few thousand `[` is well within the size limit yet raises RecursionError, which would
answer 500. This parser reports it as malformed JSON (400) like any other undecodable body.
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
        except RecursionError:
            # A non-empty `doc`: webargs treats an empty one as "no body".
            raise json.JSONDecodeError("JSON nested too deeply", "<request body>", 0) from None


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = JsonParser()
