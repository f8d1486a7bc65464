"""What one HTTP request may cost at the edge: its body's bytes and nesting, its response's size,
and, without a token, its client address's budget. Each limit at its value and one past it."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import pytest

from tests.helpers import GraphQLClient

TYPENAME = {"query": "{ __typename }"}
GRAPHQL_RESPONSE = {"Accept": "application/graphql-response+json"}


def nested(levels: int) -> str:
    """JSON text of arrays ``levels`` deep (orjson cannot write more than 254)."""
    return "[" * levels + "1" + "]" * levels


def with_variables(query: str, levels: int) -> bytes:
    return f'{{"query": "{query}", "variables": {{"x": {nested(levels)}}}}}'.encode()


def code_of(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/")
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


async def post(http: httpx.AsyncClient, body: object, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await http.post(
        "/graphql", content=content, headers={"Content-Type": "application/json", **headers}
    )


# Bodies -----------------------------------------------------------------------------------------


async def test_variables_nested_300_deep_are_a_400_json_error(http: httpx.AsyncClient) -> None:
    response = await post(http, with_variables("query($x: String) { __typename }", 300))
    assert response.status_code == 400
    assert code_of(response) == "BAD_REQUEST"
    assert "nests deeper than 32" in response.json()["errors"][0]["message"]


async def test_the_body_depth_limit_accepts_its_value_and_refuses_one_past_it(
    http: httpx.AsyncClient,
) -> None:
    # The body is level 1, its variables level 2: 30 arrays inside them make 32 levels.
    at = await post(http, with_variables("{ __typename }", 30))
    past = await post(http, with_variables("{ __typename }", 31))
    assert (at.status_code, at.json()) == (200, {"data": {"__typename": "Query"}})
    assert (past.status_code, code_of(past)) == (400, "BAD_REQUEST")


async def test_variables_of_a_get_are_depth_bounded_too(http: httpx.AsyncClient) -> None:
    params = {"query": "{ __typename }", "variables": f'{{"x": {nested(300)}}}'}
    response = await http.get("/graphql", params=params)
    assert (response.status_code, code_of(response)) == (400, "BAD_REQUEST")


async def test_the_body_size_limit_accepts_its_value_and_refuses_one_past_it(
    http: httpx.AsyncClient,
) -> None:
    def body(size: int) -> bytes:
        start, end = b'{"query": "{ __typename }"', b"}"
        return start + b" " * (size - len(start) - len(end)) + end

    at, past = await post(http, body(65_536)), await post(http, body(65_537))
    assert at.status_code == 200
    assert (past.status_code, code_of(past)) == (413, "REQUEST_TOO_LARGE")


async def test_the_variables_size_limit_accepts_its_value_and_refuses_one_past_it(
    http: httpx.AsyncClient,
) -> None:
    def body(size: int) -> dict[str, object]:
        return {**TYPENAME, "variables": {"x": "v" * (size - len(b'{"x":""}'))}}

    at, past = await post(http, body(16_384)), await post(http, body(16_385))
    assert at.status_code == 200
    assert (past.status_code, code_of(past)) == (413, "REQUEST_TOO_LARGE")


# Responses --------------------------------------------------------------------------------------


async def test_the_response_size_limit_accepts_its_value_and_refuses_one_past_it(
    app_with: Callable[..., httpx.AsyncClient],
) -> None:
    answer = b'{"data":{"__typename":"Query"}}'
    async with app_with(max_response_bytes=len(answer)) as http:
        at = await post(http, TYPENAME)
    async with app_with(max_response_bytes=len(answer) - 1) as http:
        past = await post(http, TYPENAME)
    assert (at.status_code, at.content) == (200, answer)
    assert past.status_code == 200
    assert past.json() == {"data": None, "errors": [{
        "message": f"the response is {len(answer)} bytes; at most {len(answer) - 1}: ask for less",
        "extensions": {"code": "RESPONSE_TOO_LARGE"},
    }]}  # fmt: skip


@pytest.mark.parametrize("query", ["{ ", "{ nope }"], ids=["parse", "validation"])
async def test_request_errors_under_graphql_response_json_have_no_data_entry(
    http: httpx.AsyncClient, query: str
) -> None:
    response = await post(http, {"query": query}, **GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert set(response.json()) == {"errors"}
    legacy = await post(http, {"query": query})  # application/json keeps its shape
    assert set(legacy.json()) == {"data", "errors"}


# Anonymous budget -------------------------------------------------------------------------------

BUDGET = {"rate_limit_anonymous_per_minute": 6, "rate_limit_anonymous_burst": 2}


async def test_anonymous_requests_spend_their_addresses_budget(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    async with app_with(**BUDGET) as http:
        at = [await post(http, TYPENAME) for _ in range(2)]
        past = await post(http, TYPENAME)
        with_token = await post(http, TYPENAME, Authorization=f"Bearer {token_for('alice')}")
        bad_token = await post(http, TYPENAME, Authorization="Bearer nonsense")
    assert [r.status_code for r in at] == [200, 200]
    assert past.status_code == 429
    assert past.headers["retry-after"] == "10"
    assert past.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 10}
    assert with_token.status_code == 200  # accounts have buckets of their own
    assert bad_token.status_code == 429  # an invalid token is no token


async def test_the_budget_is_per_client_address_behind_a_trusted_proxy(
    app_with: Callable[..., httpx.AsyncClient],
) -> None:
    # The test client connects from 127.0.0.1, the default trusted proxy.
    async with app_with(**BUDGET) as http:
        first = [await post(http, TYPENAME, **{"X-Forwarded-For": "203.0.113.1"}) for _ in "abc"]
        other = await post(http, TYPENAME, **{"X-Forwarded-For": "203.0.113.2"})
        # A client cannot pick its address by prepending to the header: the proxy appends the
        # address it saw, and that rightmost untrusted address is the one that pays.
        spoofed = await post(http, TYPENAME, **{"X-Forwarded-For": "198.51.100.7, 203.0.113.1"})
    assert [r.status_code for r in first] == [200, 200, 429]
    assert other.status_code == 200
    assert spoofed.status_code == 429


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    app_with: Callable[..., httpx.AsyncClient],
) -> None:
    async with app_with(**BUDGET, trusted_proxies="10.0.0.1") as http:
        statuses = [
            (await post(http, TYPENAME, **{"X-Forwarded-For": f"203.0.113.{n}"})).status_code
            for n in range(3)
        ]
    assert statuses == [200, 200, 429]


# Introspection off ------------------------------------------------------------------------------


async def test_without_introspection_errors_suggest_no_names(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    typo = "{ sesions { totalCount } }"
    enum = "query($t: [SessionType!]) { sessions(types: $t) { totalCount } }"
    async with app_with(introspection=False) as http:
        client = GraphQLClient(http, token_for("alice"))
        hidden = [await client(typo), await client(enum, t=["P2Q"])]
    async with app_with(introspection=True) as http:
        client = GraphQLClient(http, token_for("alice"))
        shown = [await client(typo), await client(enum, t=["P2Q"])]
    for result in hidden:
        [error] = result.errors
        assert "Did you mean" not in error["message"]
        assert "P2P" not in error["message"]
        assert "'sessions'" not in error["message"]
    assert all("Did you mean" in result.errors[0]["message"] for result in shown)


@pytest.mark.parametrize(
    "query",
    ["{ sessions(first: 1" + "0" * 5000 + ") { totalCount } }",
     "query($n: Int = 1" + "0" * 5000 + ") { sessions(first: $n) { totalCount } }"],
    ids=["argument", "default-value"],
)  # fmt: skip
async def test_an_int_literal_of_thousands_of_digits_is_refused_as_the_clients_error(
    alice: GraphQLClient, query: str
) -> None:
    result = await alice(query)
    assert result.data is None
    assert "INTERNAL_SERVER_ERROR" not in result.codes
    assert set(result.codes) <= {"GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COSTLY"}
