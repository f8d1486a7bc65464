"""Metrics, readiness, request ids and structured logs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock, Webhook
from tests.helpers import SECRET, GraphQLClient, bearer_token, cc_message, until, waiting
from tests.process import gateway
from tests.ws import GraphQLSocket, served


async def test_metrics_count_operations_and_errors(
    http: httpx.AsyncClient, alice: GraphQLClient
) -> None:
    await alice.ok("query Page { sessions { totalCount } }")
    await alice('query Broken { session(id: "nope") { key } }')
    metrics = (await http.get("/metrics")).text
    assert 'gateway_graphql_operation_seconds_count{operation="Page",type="query"} 1.0' in metrics
    assert 'gateway_graphql_errors_total{code="BAD_USER_INPUT"} 1.0' in metrics
    assert "gateway_subscriptions_open 0.0" in metrics


async def test_operations_are_counted_under_their_name_anonymous_or_other(
    http: httpx.AsyncClient, alice: GraphQLClient
) -> None:
    for _ in range(2):
        await alice.ok("query Page { sessions { totalCount } }")
        await alice.ok("{ sessions { totalCount } }")
        await alice.ok(f"query {'Long' * 20} {{ sessions {{ totalCount }} }}")
    metrics = (await http.get("/metrics")).text
    for name in ("Page", "anonymous", "other"):
        series = f'gateway_graphql_operation_seconds_count{{operation="{name}",type="query"}}'
        assert f"{series} 2.0" in metrics


async def test_operations_past_the_kept_names_are_still_counted(
    http: httpx.AsyncClient, alice: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.metrics._TIMERS_KEPT", 1)
    for name in ("First", "Second", "Third", "Third"):
        await alice.ok(f"query {name} {{ sessions {{ totalCount }} }}")
    metrics = (await http.get("/metrics")).text
    for name, count in (("First", 1), ("Second", 1), ("Third", 2)):
        series = f'gateway_graphql_operation_seconds_count{{operation="{name}",type="query"}}'
        assert f"{series} {count}.0" in metrics


async def test_metrics_time_every_store_call_by_operation(
    http: httpx.AsyncClient, alice: GraphQLClient, webhook: Webhook, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", clock.now))
    await alice.ok("{ sessions { edges { node { lastMessage { text } } } } }")
    await alice.ok('{ session(id: "p2p|bob") { lastMessage { text } } }')
    metrics = (await http.get("/metrics")).text
    for operation in ("record_message", "list_sessions", "get_messages"):
        assert f'gateway_store_operation_seconds_count{{operation="{operation}"}} 1.0' in metrics
    errors = re.findall(r"^gateway_store_errors_total\{.*\} (\S+)$", metrics, re.MULTILINE)
    assert errors
    assert {float(count) for count in errors} == {0.0}


async def test_metrics_count_failed_store_calls(
    http: httpx.AsyncClient, store: SessionStore
) -> None:
    await store.close()
    assert (await http.get("/readyz")).status_code == 503
    metrics = (await http.get("/metrics")).text
    assert 'gateway_store_errors_total{operation="is_empty"} 1.0' in metrics
    assert 'gateway_store_operation_seconds_count{operation="is_empty"} 1.0' in metrics


async def test_readiness_follows_the_store(http: httpx.AsyncClient, store: SessionStore) -> None:
    assert (await http.get("/readyz")).json() == {"status": "ready"}
    await store.close()
    response = await http.get("/readyz")
    assert (response.status_code, response.json()) == (503, {"status": "unavailable"})


async def test_request_ids_are_echoed_or_made(http: httpx.AsyncClient) -> None:
    given = await http.get("/healthz", headers={"X-Request-ID": "trace-42"})
    made = await http.get("/healthz")
    assert given.headers["x-request-id"] == "trace-42"
    assert re.fullmatch("[0-9a-f]{32}", made.headers["x-request-id"])


async def test_made_request_ids_differ(http: httpx.AsyncClient) -> None:
    made = {(await http.get("/healthz")).headers["x-request-id"] for _ in range(100)}
    assert len(made) == 100


async def test_an_unusable_request_id_is_replaced(http: httpx.AsyncClient) -> None:
    for unusable in ("", "x" * 129, "tab\there"):
        answer = await http.get("/healthz", headers={"X-Request-ID": unusable})
        assert re.fullmatch("[0-9a-f]{32}", answer.headers["x-request-id"])


def test_logs_are_json_lines_with_the_request_id(tmp_path: Path, free_port: int) -> None:
    env = {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_LOG_FORMAT": "json"}
    with gateway("serve", "--db", str(tmp_path / "g.db"), "--port", str(free_port),
                 env=env) as server:  # fmt: skip
        server.wait_for("Application startup complete")
        httpx.get(f"http://127.0.0.1:{free_port}/healthz", headers={"X-Request-ID": "req-77"})
        line = server.wait_for("req-77")
    record = json.loads(line)
    assert record["request_id"] == "req-77"
    assert {"time", "level", "logger", "message"} <= set(record)


@pytest.mark.parametrize("ending", ["complete", "close"])
async def test_a_subscription_is_counted_however_its_client_ends_it(
    settings: Settings, store: SessionStore, ending: str
) -> None:
    """Most subscriptions end by their client's leaving: they are operations too."""
    app = create_app(settings, store=store)
    async with (
        served(app) as url,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
    ):
        socket = await GraphQLSocket.connect(url, bearer_token("alice"))
        operation = await socket.subscribe("subscription Live { sessionEvents { __typename } }")
        await until(lambda: waiting(store, "alice"))
        if ending == "complete":
            await socket.send({"id": operation, "type": "complete"})
        await socket.close()
        series = 'gateway_graphql_operation_seconds_count{operation="Live",type="subscription"} 1.0'

        async def counted() -> bool:
            return series in (await http.get("/metrics")).text

        await until(counted)


@pytest.mark.parametrize("name", [{"obj": "ect"}, ["array"], 0, False])
async def test_an_operation_name_that_is_no_string_is_refused_and_counted(
    http: httpx.AsyncClient, name: object
) -> None:
    body = {"query": "{ __typename }", "operationName": name}
    response = await http.post("/graphql", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    metrics = (await http.get("/metrics")).text
    assert re.search(r'^gateway_graphql_operation_seconds_count\{operation="other".*\} 1\.0$',
                     metrics, re.M)  # fmt: skip
