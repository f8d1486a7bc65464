"""GraphQL over HTTP: the status code and media type of an answer.

- A client that accepts ``application/graphql-response+json`` gets it; a request error (nothing
  executed: parse, validation, variables, a refusal before execution) is then 400, and its
  answer has no ``data`` entry at all. Under ``application/json`` a result is always 200.
- An operation refused by its account's rate limit is 429 with ``Retry-After``, either way.
- A request Strawberry refuses before any GraphQL (``HTTPException``: no JSON, a mutation over
  GET, an unsupported content type, a body or variables too large) is a JSON error with a
  ``code``: 400 ``BAD_REQUEST``, 405 ``METHOD_NOT_ALLOWED`` (with ``Allow: POST``), 413
  ``REQUEST_TOO_LARGE``, 415 ``UNSUPPORTED_MEDIA_TYPE``.
"""

from __future__ import annotations

from typing import Any, cast

import orjson
from cross_web import HTTPException
from starlette.responses import Response
from strawberry.http import GraphQLHTTPResponse

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"

_HTTP_CODES = {400: "BAD_REQUEST", 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_TOO_LARGE",
               415: "UNSUPPORTED_MEDIA_TYPE"}  # fmt: skip


def media_type(accept: str) -> str:
    """The media type of the answer to a request that sends ``accept``."""
    return GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in accept else JSON


def status_of(answer: GraphQLHTTPResponse, media: str) -> tuple[int, dict[str, str] | None]:
    """The status of ``answer`` (a processed result) sent as ``media``, and its headers; under
    ``application/graphql-response+json`` a request error's ``data`` entry is taken out."""
    errors = cast("list[dict[str, Any]] | None", answer.get("errors"))  # formatted errors
    if not errors:
        return 200, None
    status, headers = 200, None
    for error in errors:
        extensions = error.get("extensions")
        if extensions and extensions.get("code") == "RATE_LIMITED":
            retry_after = extensions.get("retryAfter")
            if retry_after is not None:
                status, headers = 429, {"Retry-After": str(retry_after)}
    if (
        media == GRAPHQL_RESPONSE
        and answer.get("data") is None
        and all("path" not in error for error in errors)
    ):
        answer.pop("data", None)  # nothing executed: no "data" entry at all
        if status == 200:
            status = 400
    return status, headers


def http_error(method: str, error: HTTPException) -> Response:
    """A request refused before any GraphQL, as a JSON error with its code."""
    status, reason = error.status_code, error.reason
    if method == "GET" and "mutation" in reason.lower():
        status = 405  # GraphQL over HTTP: mutations only by POST
    elif reason == "Unsupported content type":
        status, reason = 415, "send application/json (POST) or query parameters (GET)"
    response = error_response(status, _HTTP_CODES.get(status, "BAD_REQUEST"), reason)
    if status == 405:
        response.headers["Allow"] = "POST"
    return response


def error_response(status: int, code: str, message: str, **extensions: object) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return Response(orjson.dumps(body), status, media_type=JSON)
