"""Limits and GraphQL-over-HTTP behaviour at the edge: refused before any work is done."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import orjson
import pytest

from tests.helpers import GraphQLClient

DEEP = "{ sessions { edges { node { lastMessage { from } } } } }"  # 5 levels


async def refused(client: GraphQLClient, query: str, **variables: object) -> str:
    result = await client(query, **variables)
    assert result.data is None
    [error] = result.errors
    code: str = error["extensions"]["code"]
    return code


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ " + " ".join(f"a{n}: __typename" for n in range(31)) + " }", "TOO_MANY_ALIASES"),
        ("{ " + "__typename " * 2100 + "}", "QUERY_TOO_LARGE"),
        ("{ " + " ".join(f"p{n}: sessions {{ totalCount }}" for n in range(6)) + " }",
         "QUERY_TOO_COSTLY"),
        ("query($n: Int) { a: sessions(first: $n) { totalCount } b: sessions(first: 100) "
         "{ totalCount } c: sessions { totalCount } d: sessionChanges { syncToken } "
         "e: sessions(first: 100) { totalCount } f: sessions(first: 1) { totalCount } }",
         "QUERY_TOO_COSTLY"),
    ],
    ids=["aliases", "tokens", "total-first", "total-first-with-variables"],
)  # fmt: skip
async def test_costly_documents_are_refused_before_execution(
    alice: GraphQLClient, statements: list[str], query: str, code: str
) -> None:
    statements.clear()
    assert await refused(alice, query) == code
    assert statements == []


async def test_a_document_within_the_limits_runs(alice: GraphQLClient) -> None:
    query = "{ " + " ".join(f"p{n}: sessions(first: 100) {{ totalCount }}" for n in range(5)) + " }"
    data = await alice.ok(query)
    assert len(data) == 5


async def test_a_large_body_is_413(http: httpx.AsyncClient) -> None:
    body = b'{"query": "' + b" " * 70_000 + b'{ __typename }"}'
    response = await http.post("/graphql", content=body,
                               headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


async def test_a_large_body_without_content_length_is_413(http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 5000

    response = await http.post("/graphql", content=chunks(),
                               headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 413


async def test_large_variables_are_413(alice: GraphQLClient) -> None:
    response = await alice.http.post(
        "/graphql",
        json={"query": "query($x: String) { __typename }", "variables": {"x": "v" * 20_000}},
    )
    assert response.status_code == 413
    assert "variables" in response.json()["errors"][0]["message"]


async def test_queries_work_over_get(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": "{ __typename }"})
    assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})


async def test_mutations_over_get_are_405(http: httpx.AsyncClient) -> None:
    query = 'mutation { deleteSessions(input: {ids: ["p2p|x"]}) { deletedIds } }'
    response = await http.get("/graphql", params={"query": query})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_mutations_over_get_are_405_with_the_write_budget_spent_too(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    # Spent all the same (every request spends its budget), but refused for its method first:
    # waiting would not help.
    query = 'mutation { deleteSessions(input: {ids: ["p2p|x"]}) { deletedIds } }'
    headers = {"Authorization": f"Bearer {token_for('alice')}"}
    limits = {"rate_limit_writes_per_minute": 1, "rate_limit_writes_burst": 1}
    async with app_with(**limits) as http:
        statuses = [
            (await http.get("/graphql", params={"query": query}, headers=headers)).status_code
            for _ in range(2)
        ]
        write = await http.post("/graphql", json={"query": query}, headers=headers)
    assert statuses == [405, 405]
    assert write.status_code == 429


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{ __typename }", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"{not json", "application/json", 400, "BAD_REQUEST"),
        (b'[{"query": "{ __typename }"}]', "application/json", 400, "BAD_REQUEST"),
        (b'{"variables": {}}', "application/json", 400, "BAD_REQUEST"),
    ],
    ids=["wrong-media-type", "bad-json", "batch", "no-query"],
)
async def test_bad_requests_get_json_errors(
    http: httpx.AsyncClient, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = await http.post("/graphql", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize(
    ("query", "status"),
    [("{ __typename }", 200), ("{ nope }", 400), ("{ ", 400),
     ("query($n: Int!) { sessions(first: $n) { totalCount } }", 400)],
)  # fmt: skip
async def test_graphql_response_json_uses_http_status_codes(
    http: httpx.AsyncClient, query: str, status: int
) -> None:
    accept = {"Accept": "application/graphql-response+json"}
    response = await http.post("/graphql", json={"query": query}, headers=accept)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/graphql-response+json"
    legacy = await http.post("/graphql", json={"query": query})
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"


async def test_introspection_can_be_switched_off(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    async with app_with(introspection=False) as http:
        client = GraphQLClient(http, token_for("alice"))
        result = await client("{ __schema { queryType { name } } }")
        assert set(result.codes) == {"INTROSPECTION_DISABLED"}
        assert (await client.ok("{ sessions { totalCount } }"))["sessions"]["totalCount"] == 0


async def test_cors_allows_only_the_configured_origins(
    app_with: Callable[..., httpx.AsyncClient],
) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    async with app_with(allowed_origins="https://app.example") as http:
        ok = await http.options("/graphql", headers={**preflight, "Origin": "https://app.example"})
        evil = await http.options(
            "/graphql", headers={**preflight, "Origin": "https://evil.example"}
        )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in evil.headers
    assert evil.status_code == 400
    assert "set GATEWAY_ALLOWED_ORIGINS=https://evil.example" in evil.text  # how to allow it


async def test_rate_limits_answer_429_with_a_retry_hint(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    limits = {"rate_limit_reads_per_minute": 6, "rate_limit_reads_burst": 2,
              "rate_limit_writes_per_minute": 6, "rate_limit_writes_burst": 1}  # fmt: skip
    async with app_with(**limits) as http:
        alice, bob = GraphQLClient(http, token_for("alice")), GraphQLClient(http, token_for("bob"))
        await alice.ok("{ sessions { totalCount } }")
        await alice.ok("{ sessions { totalCount } }")
        headers = {"Authorization": f"Bearer {token_for('alice')}"}
        response = await http.post("/graphql", json={"query": "{ sessions { totalCount } }"},
                                   headers=headers)  # fmt: skip
        await bob.ok("{ sessions { totalCount } }")  # another account has its own bucket
        write = 'mutation { updateSessionExt(input: {id: "p2p|x", ext: ""}) { session { key } } }'
        await alice.ok(write)  # writes have their own bucket
        second_write = await alice(write)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "10"
    [error] = orjson.loads(response.content)["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 10}
    assert second_write.codes == ["RATE_LIMITED"]


async def test_deep_queries_are_refused_but_introspection_is_not(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    from graphql import get_introspection_query

    async with app_with(max_query_depth=4) as http:
        client = GraphQLClient(http, token_for("alice"))
        assert await refused(client, DEEP) == "QUERY_TOO_DEEP"
        # GraphiQL's own introspection query nests far deeper than any data query.
        schema = await client.ok(get_introspection_query(descriptions=True))
    assert schema["__schema"]["queryType"]["name"] == "Query"
