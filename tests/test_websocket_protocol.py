"""GraphQL over WebSocket, both subprotocols: who may stay connected, and what a client is told
when an operation is refused. The gateway runs in the test's process, on the test's clock."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from starlette.applications import Starlette
from websockets.protocol import State
from websockets.server import ServerProtocol

from gateway.server.websocket import text_frame
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.helpers import SECRET, T0, send
from tests.ws import (
    LEGACY_PROTOCOL,
    PROTOCOL,
    PROTOCOLS,
    Closed,
    GraphQLSocket,
    metrics_of,
    served,
)

EVENTS = """subscription($since: String) { sessionEvents(since: $since) {
  ... on SessionUpserted { syncToken session { key } } } }"""
TOO_MANY_TOKENS = "subscription { sessionEvents { " + "__typename " * 2500 + "} }"


@pytest.fixture
def app(settings: Settings, store: SessionStore, clock: Clock) -> Starlette:
    return create_app(settings, store=store, clock=clock)


@pytest.fixture
async def ws_url(app: Starlette) -> AsyncIterator[str]:
    async with served(app) as url:
        yield url


def token_until(account: str, exp: int) -> str:
    return jwt.encode({"sub": account, "exp": exp}, SECRET, algorithm="HS256")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_connection_closes_with_4403_when_its_token_expires(
    ws_url: str, clock: Clock, store: SessionStore, protocol: str
) -> None:
    exp = int(time.time()) + 600
    clock.now = exp * 1000 - 200  # by the gateway's clock, the token has 200 ms left
    socket = await GraphQLSocket.connect(ws_url, token_until("alice", exp), protocol=protocol)
    await subscribe_from_now(socket, store)

    closed = await socket.drain_until_closed(wait=10)
    assert closed.code == 4403
    assert "expired" in closed.reason


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_connection_lives_on_while_its_token_is_valid(
    ws_url: str, clock: Clock, store: SessionStore, protocol: str
) -> None:
    exp = int(time.time()) + 600
    clock.now = exp * 1000 - 60_000
    socket = await GraphQLSocket.connect(ws_url, token_until("alice", exp), protocol=protocol)
    await subscribe_from_now(socket, store)
    await send(store, "m1", "bob", "alice", T0 + 1)
    event = (await socket.next_data())["sessionEvents"]
    await socket.close()
    assert event["session"]["key"] == "p2p|bob"


async def subscribe_from_now(socket: GraphQLSocket, store: SessionStore) -> None:
    """From a token taken first, as clients do, so a change sent next cannot slip past."""
    since = await store.sync_position("alice")
    await socket.subscribe(EVENTS, since=since.token())


@pytest.mark.parametrize("bad", [None, "not-a-jwt", "expired"])
async def test_a_bad_token_on_the_legacy_protocol_closes_with_4403(
    ws_url: str, bad: str | None
) -> None:
    token = token_until("alice", int(time.time()) - 5) if bad == "expired" else bad
    with pytest.raises(Closed) as closed:
        await GraphQLSocket.connect(ws_url, token, protocol=LEGACY_PROTOCOL)
    assert closed.value.code == 4403


async def test_a_second_connection_init_on_the_legacy_protocol_closes_with_4429(
    ws_url: str, token_for: Callable[[str], str]
) -> None:
    socket = await GraphQLSocket.connect(ws_url, token_for("alice"), protocol=LEGACY_PROTOCOL)
    await socket.send({"type": "connection_init", "payload": {}})
    closed = await socket.drain_until_closed(wait=10)
    assert closed.code == 4429


REFUSED = {
    "syntax": ("subscription { sessionEvents {", "GRAPHQL_PARSE_FAILED"),
    "validation": ("subscription { nope }", "GRAPHQL_VALIDATION_FAILED"),
    "tokens": (TOO_MANY_TOKENS, "QUERY_TOO_LARGE"),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("case", REFUSED)
async def test_a_refused_subscribe_gets_an_error_message_and_the_connection_stays(
    ws_url: str,
    token_for: Callable[[str], str],
    store: SessionStore,
    caplog: pytest.LogCaptureFixture,
    protocol: str,
    case: str,
) -> None:
    query, code = REFUSED[case]
    caplog.set_level(logging.WARNING)
    socket = await GraphQLSocket.connect(ws_url, token_for("alice"), protocol=protocol)
    refused = await socket.subscribe(query)
    message = await socket.receive()

    assert message["type"] == "error"
    assert message["id"] == refused
    errors: list[dict[str, Any]] = (
        message["payload"] if protocol == PROTOCOL else [message["payload"]]
    )
    assert [e["extensions"]["code"] for e in errors] == [code]

    await subscribe_from_now(socket, store)  # the connection serves the next operation
    await send(store, "m1", "bob", "alice", T0 + 1)
    await socket.next_data()
    await socket.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_a_result_over_the_response_size_limit_is_an_error_in_its_place(
    settings: Settings, store: SessionStore, clock: Clock, token_for: Callable[[str], str]
) -> None:
    # As over HTTP (GATEWAY_MAX_RESPONSE_BYTES): a query's result past the limit is not sent;
    # the client is told so, and the connection serves the next operation. (Queries run over
    # graphql-transport-ws; the legacy protocol runs subscriptions only.)
    protocol = PROTOCOL
    await send(store, "m1", "bob", "alice", T0)
    page = "{ sessions { edges { node { key lastMessage { text } } } } }"
    capped = settings.model_copy(update={"max_response_bytes": 60})
    async with served(create_app(capped, store=store, clock=clock)) as url:
        socket = await GraphQLSocket.connect(url, token_for("alice"), protocol=protocol)
        big = await socket.subscribe(page)
        refused = await socket.receive()
        assert (await socket.receive())["type"] == "complete"
        small = await socket.subscribe("{ __typename }")
        answered = await socket.receive()
        await socket.close()
    event = "next" if protocol == PROTOCOL else "data"
    assert (refused["type"], refused["id"]) == (event, big)
    [error] = refused["payload"]["errors"]
    assert refused["payload"]["data"] is None
    assert error["extensions"] == {"code": "RESPONSE_TOO_LARGE"}
    assert "at most 60" in error["message"]
    assert (answered["type"], answered["id"]) == (event, small)
    assert answered["payload"] == {"data": {"__typename": "Query"}}


async def test_each_operation_spends_one_token_and_an_empty_budget_refuses_the_next(
    settings: Settings, store: SessionStore, clock: Clock, token_for: Callable[[str], str]
) -> None:
    # As over HTTP: an operation is charged and observed once, and refused with RATE_LIMITED
    # when its account has no token left.
    limited = settings.model_copy(
        update={"rate_limit_reads_per_minute": 1, "rate_limit_reads_burst": 2}
    )
    app = create_app(limited, store=store, clock=clock)
    count = "query Count { sessions { totalCount } }"
    async with served(app) as url:
        socket = await GraphQLSocket.connect(url, token_for("alice"))
        answers = []
        for _ in range(3):
            await socket.subscribe(count)
            answers.append(await socket.receive())
            if answers[-1]["type"] == "next":
                assert (await socket.receive())["type"] == "complete"
        metrics = await metrics_of(url)
        await socket.close()
    assert [answer["type"] for answer in answers] == ["next", "next", "error"]
    [error] = answers[2]["payload"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 60}
    assert 'gateway_graphql_operation_seconds_count{operation="Count",type="query"} 3.0' in metrics
    assert 'gateway_graphql_errors_total{code="RATE_LIMITED"} 1.0' in metrics


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
def test_a_frame_written_directly_is_the_frame_websockets_writes(size: int) -> None:
    text = b"x" * size
    websockets_side = ServerProtocol()
    websockets_side.state = State.OPEN
    websockets_side.send_text(text)
    assert text_frame(text) == b"".join(websockets_side.data_to_send())
