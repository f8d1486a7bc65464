"""The GraphQL edge's rules one at a time, without an app (web/status.py, web/limits.py,
web/budget.py): each is a small collaborator of the view, and reads as its rule."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message
from strawberry.http import GraphQLHTTPResponse

from gateway.schema.limits import RateLimit, RateLimiter
from gateway.web.budget import AnonymousBudget
from gateway.web.limits import BodyTooLarge, ResponseCap, read_body
from gateway.web.status import GRAPHQL_RESPONSE, JSON, media_type, status_of

PARSE_ERROR = {"message": "Syntax Error", "locations": [{"line": 1, "column": 2}],
               "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}  # fmt: skip
FIELD_ERROR = {"message": "no", "path": ["session"], "extensions": {"code": "NOT_FOUND"}}
RATE_LIMITED = {"message": "too many", "extensions": {"code": "RATE_LIMITED", "retryAfter": 7}}


def answer(**entries: Any) -> GraphQLHTTPResponse:
    made: GraphQLHTTPResponse = dict(entries)  # type: ignore[assignment]
    return made


# GraphQL over HTTP ------------------------------------------------------------------------------


def test_the_answer_has_the_media_type_the_client_accepts() -> None:
    assert media_type("application/graphql-response+json, application/json") == GRAPHQL_RESPONSE
    assert media_type("application/json") == JSON
    assert media_type("") == JSON


def test_a_result_is_200_either_way() -> None:
    for media in (JSON, GRAPHQL_RESPONSE):
        assert status_of(answer(data={"a": 1}), media) == (200, None)
        partial = answer(data={"session": None}, errors=[FIELD_ERROR])
        assert status_of(partial, media) == (200, None)
        assert "data" in partial


def test_a_request_error_is_400_without_data_only_under_graphql_response_json() -> None:
    legacy = answer(data=None, errors=[PARSE_ERROR])
    assert status_of(legacy, JSON) == (200, None)
    assert "data" in legacy
    spec = answer(data=None, errors=[PARSE_ERROR])
    assert status_of(spec, GRAPHQL_RESPONSE) == (400, None)
    assert spec == {"errors": [PARSE_ERROR]}


def test_an_operation_refused_by_its_rate_limit_is_429_with_retry_after_either_way() -> None:
    for media in (JSON, GRAPHQL_RESPONSE):
        refused = answer(data=None, errors=[RATE_LIMITED])
        assert status_of(refused, media) == (429, {"Retry-After": "7"})


# Limits -----------------------------------------------------------------------------------------


def receiving(*chunks: bytes, disconnect: bool = False) -> Any:
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})

    async def receive() -> Message:
        return messages.pop(0)

    return receive


async def test_a_body_is_read_whole_up_to_its_limit() -> None:
    assert await read_body(receiving(b"ab", b"cd", b"e"), None, 5) == b"abcde"
    assert await read_body(receiving(b"abcde"), b"5", 5) == b"abcde"


async def test_a_body_past_its_limit_is_refused_as_it_arrives_or_as_it_is_declared() -> None:
    with pytest.raises(BodyTooLarge):
        await read_body(receiving(b"abc", b"def"), None, 5)
    with pytest.raises(BodyTooLarge):
        await read_body(receiving(b""), b"6", 5)  # not even read


async def test_a_client_that_leaves_mid_body_is_a_disconnect() -> None:
    with pytest.raises(ClientDisconnect):
        await read_body(receiving(b"ab", disconnect=True), None, 5)


def test_a_result_over_the_cap_is_replaced_by_response_too_large_and_counted() -> None:
    refused: list[str] = []
    cap = ResponseCap(10, refused.append)
    assert cap.fit(b'{"data":1}') == b'{"data":1}'
    replaced = orjson.loads(cap.fit(b'{"data":10}'))
    assert replaced["data"] is None
    assert replaced["errors"][0]["extensions"] == {"code": "RESPONSE_TOO_LARGE"}
    assert refused == ["RESPONSE_TOO_LARGE"]


# Anonymous budget -------------------------------------------------------------------------------


def test_the_anonymous_budget_is_per_client_address() -> None:
    refused: list[str] = []
    limiter = RateLimiter(RateLimit(0, 0), RateLimit(0, 0), RateLimit(6, 1), clock=lambda: 0.0)
    budget = AnonymousBudget(limiter, refused.append)
    one, other = {"client": ("203.0.113.1", 1)}, {"client": ("203.0.113.2", 1)}
    assert budget.refusal(one) is None
    response = budget.refusal(one)
    assert response is not None
    assert (response.status_code, response.headers["retry-after"]) == (429, "10")
    assert budget.refusal(other) is None
    assert refused == ["RATE_LIMITED"]
