"""What a document may cost before it executes: its bytes, its errors and their locations, and
its sender's budget, over HTTP and WebSocket alike; every refusal counted in /metrics."""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import orjson
import pytest
from graphql import Source
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from gateway.schema.parsing import IndexedSource
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.helpers import GraphQLClient
from tests.ws import GraphQLSocket, metrics_of, served

LIMIT = Settings().max_document_bytes
ERRORS = Settings().max_query_errors
# The attack of issue 28: 32,000 newlines, then 130 unknown fields (132 tokens, 32 KB).
NEWLINES_AND_UNKNOWN_FIELDS = "{" + "\n" * 32_000 + " ".join(f"f{n}" for n in range(130)) + "}"


def padded(query: str, size: int) -> str:
    """``query`` followed by spaces up to ``size`` bytes."""
    return query + " " * (size - len(query.encode()))


async def post(http: httpx.AsyncClient, query: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.post("/graphql", json={"query": query}, headers=headers)


def codes_of(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


def refusals(metrics: str) -> dict[str, float]:
    found = re.findall(r'^gateway_refusals_total\{code="(\w+)"\} (\S+)$', metrics, re.M)
    return {code: float(count) for code, count in found}


# Error locations --------------------------------------------------------------------------------

BODIES = st.lists(st.sampled_from(["a", " ", "\n", "\r", "\r\n", "é", "{"]), max_size=40).map(
    "".join
)


@given(body=BODIES, data=st.data())
def test_an_indexed_source_locates_every_position_as_graphql_core_does(
    body: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(body)))
    assert IndexedSource(body).get_location(position) == Source(body).get_location(position)


async def test_newlines_and_unknown_fields_report_at_most_the_error_limit_each_located(
    alice: GraphQLClient,
) -> None:
    result = await alice(NEWLINES_AND_UNKNOWN_FIELDS)
    assert result.data is None
    # graphql-core's own cap is 100 errors; each costs its suggestions and its location.
    assert len(result.errors) == ERRORS + 1
    assert result.errors[-1]["message"].startswith("Too many validation errors")
    first = result.errors[0]
    assert "'f0'" in first["message"]
    assert first["locations"] == [{"line": 32_001, "column": 1}]
    assert result.errors[1]["locations"] == [{"line": 32_001, "column": 4}]


# The document's bytes ---------------------------------------------------------------------------


async def test_a_document_at_the_byte_limit_runs_and_one_past_it_is_refused_unread(
    alice: GraphQLClient,
) -> None:
    at = await alice(padded("{ __typename }", LIMIT))
    past = await alice(padded("{ __typename }", LIMIT + 1))
    assert (at.data, at.errors) == ({"__typename": "Query"}, [])
    assert past.data is None
    assert past.codes == ["QUERY_TOO_LARGE"]
    assert f"at most {LIMIT}" in past.errors[0]["message"]


async def test_the_byte_limit_counts_utf8_bytes_not_characters(alice: GraphQLClient) -> None:
    # A comment of 3-byte characters: a third as many characters as the limit has bytes.
    comment = "#" + "語" * (LIMIT // 3) + "\n"
    result = await alice(comment + "{ __typename }")
    assert result.codes == ["QUERY_TOO_LARGE"]


async def test_a_get_with_a_document_past_the_byte_limit_is_refused(
    http: httpx.AsyncClient, token_for: Callable[[str], str]
) -> None:
    headers = {"Authorization": f"Bearer {token_for('alice')}"}
    response = await http.get(
        "/graphql", params={"query": padded("{ __typename }", LIMIT + 1)}, headers=headers
    )
    assert codes_of(response) == ["QUERY_TOO_LARGE"]


# Budget -----------------------------------------------------------------------------------------

BUDGET = {"rate_limit_reads_per_minute": 1, "rate_limit_reads_burst": 4}


async def test_documents_that_do_not_parse_or_validate_spend_the_accounts_budget(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    token = token_for("alice")
    async with app_with(**BUDGET) as http:
        spent = [
            await post(http, "{ sessions(", token),  # does not parse
            await post(http, NEWLINES_AND_UNKNOWN_FIELDS, token),  # does not validate
            await post(http, "{ sessions(first: 1000) { totalCount } }", token),  # too costly
            await post(http, padded("{ __typename }", LIMIT + 1), token),  # too large to read
        ]
        refused = await post(http, "{ __typename }", token)
        other = await post(http, "{ __typename }", token_for("bob"))
    assert [codes_of(r)[0] for r in spent] == [
        "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COSTLY", "QUERY_TOO_LARGE"
    ]  # fmt: skip
    assert refused.status_code == 429
    assert codes_of(refused) == ["RATE_LIMITED"]
    assert other.json() == {"data": {"__typename": "Query"}}


async def test_an_empty_budget_refuses_a_document_before_validating_it(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    token = token_for("alice")
    async with app_with(**{**BUDGET, "rate_limit_reads_burst": 1}) as http:
        await post(http, "{ __typename }", token)
        refused = await post(http, NEWLINES_AND_UNKNOWN_FIELDS, token)
        too_large = await post(http, padded("{ __typename }", LIMIT + 1), token)
    # Refused, not validated: no GRAPHQL_VALIDATION_FAILED, no QUERY_TOO_LARGE.
    assert codes_of(refused) == ["RATE_LIMITED"]
    assert codes_of(too_large) == ["RATE_LIMITED"]


# WebSocket --------------------------------------------------------------------------------------

EVENTS = "subscription { sessionEvents { __typename } }"


@pytest.fixture
def app(settings: Settings, store: SessionStore, clock: Clock) -> Starlette:
    return create_app(settings, store=store, clock=clock)


@pytest.fixture
async def ws_url(app: Starlette) -> AsyncIterator[str]:
    async with served(app) as url:
        yield url


async def test_a_subscribe_past_the_document_byte_limit_gets_an_error_and_the_socket_stays(
    ws_url: str, token_for: Callable[[str], str]
) -> None:
    client = await GraphQLSocket.connect(ws_url, token_for("alice"))
    refused = await client.subscribe(padded(EVENTS, LIMIT + 1))
    message = await client.receive()
    assert (message["type"], message["id"]) == ("error", refused)
    assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
    await client.subscribe("{ __typename }")
    assert await client.next_data() == {"__typename": "Query"}
    await client.close()


def deflated(text: str) -> bytes:
    """``text`` as permessage-deflate sends it (RFC 7692: raw deflate, the tail stripped)."""
    compressor = zlib.compressobj(wbits=-12)
    data = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


async def test_a_megabyte_message_in_a_small_deflated_frame_closes_the_socket_with_1009(
    ws_url: str, token_for: Callable[[str], str]
) -> None:
    message = {"id": "1", "type": "subscribe", "payload": {"query": "{" + "\n" * 1_000_000 + "}"}}
    text = orjson.dumps(message).decode()
    assert len(deflated(text)) < 4_000  # what crosses the network: 2 MB of text
    client = await GraphQLSocket.connect(ws_url, token_for("alice"), compression="deflate")
    await client.connection.send(text)  # websockets deflates it
    closed = await client.drain_until_closed()
    assert closed.code == 1009
    assert refusals(await metrics_of(ws_url)) == {"MESSAGE_TOO_LARGE": 1.0}


async def test_a_message_past_the_limit_closes_with_1009_under_any_server(
    app: Starlette, token_for: Callable[[str], str]
) -> None:
    # uvicorn's own frame limit (16 MiB) is far above the gateway's: the view still refuses.
    async with served(app, ws_max_size=16 * 1024 * 1024) as url:
        client = await GraphQLSocket.connect(url, token_for("alice"))
        await client.send({"id": "1", "type": "subscribe", "payload": {"query": " " * 70_000}})
        closed = await client.drain_until_closed()
        assert closed.code == 1009
        assert "at most 65536 bytes" in closed.reason
        assert refusals(await metrics_of(url)) == {"MESSAGE_TOO_LARGE": 1.0}


async def test_the_message_limit_counts_utf8_bytes_not_characters(
    app: Starlette, token_for: Callable[[str], str]
) -> None:
    # 30,000 three-byte characters: under the limit in characters, 90 KB on the wire.
    async with served(app, ws_max_size=16 * 1024 * 1024) as url:
        client = await GraphQLSocket.connect(url, token_for("alice"))
        await client.send({"id": "1", "type": "subscribe", "payload": {"query": "語" * 30_000}})
        assert (await client.drain_until_closed()).code == 1009


async def test_a_message_at_the_limit_is_read(ws_url: str, token_for: Callable[[str], str]) -> None:
    client = await GraphQLSocket.connect(ws_url, token_for("alice"))
    envelope = orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{__typename}"}})
    query = "{__typename}" + " " * (65_536 - len(envelope))
    await client.send({"id": "1", "type": "subscribe", "payload": {"query": query}})
    message = await client.receive()
    # Read, then refused for the document's own limit: the socket stays open.
    assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
    await client.close()


# Every refusal, counted -------------------------------------------------------------------------


async def test_every_kind_of_refusal_is_counted_in_metrics(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    token = token_for("alice")
    limits = {**BUDGET, "rate_limit_reads_burst": 5, "max_response_bytes": 1000,
              "rate_limit_anonymous_per_minute": 1, "rate_limit_anonymous_burst": 1}  # fmt: skip
    async with app_with(**limits) as http:
        await post(http, padded("{ __typename }", LIMIT + 1), token)
        await post(http, "{ sessions(first: 1000) { totalCount } }", token)
        await post(http, "{" + " a: __typename" * 31 + "}", token)
        await post(http, "{ __schema { types { name description } } }", token)  # past 1000 bytes
        await post(http, "{ __typename }", token)  # the 5th
        await post(http, "{ __typename }", token)  # no token left
        await post(http, "{ __typename }")
        await post(http, "{ __typename }")  # no anonymous token left
        big = orjson.dumps({"query": "{ __typename }" + " " * 70_000})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        await http.post("/graphql", content=big, headers=headers)
        counted = refusals((await http.get("/metrics")).text)
    assert counted == {
        "QUERY_TOO_LARGE": 1.0, "QUERY_TOO_COSTLY": 1.0, "TOO_MANY_ALIASES": 1.0,
        "RESPONSE_TOO_LARGE": 1.0, "RATE_LIMITED": 2.0, "REQUEST_TOO_LARGE": 1.0,
    }  # fmt: skip
