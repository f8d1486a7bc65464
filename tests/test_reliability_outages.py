"""PostgreSQL outages end well: while the database is away the gateway says it is not ready and
answers webhooks 503 (NIM retries every non-200), its subscriptions wait, nothing acknowledged is
lost, and everything recovers by itself. The database is made to go away through a proxy the
test cuts, or by terminating the gateway's own backends: never by stopping the shared server."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from gateway.domain.checksum import sign
from gateway.live import ChangeNotifier, follow
from gateway.store import PostgresStore, SqliteStore
from gateway.web.app import create_app
from tests.conftest import POSTGRES_URL, Clock, postgres_schema, settings_for
from tests.helpers import APP_SECRET, SECRET, T0, bearer_token, post_signed, send, until, waiting
from tests.process import free_tcp_port, gateway
from tests.proxy import Proxy, proxy_to
from tests.ws import GraphQLSocket

pytestmark = pytest.mark.reliability
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="needs PostgreSQL: set GATEWAY_TEST_POSTGRES_URL"
)


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with postgres_schema(POSTGRES_URL) as url:
        yield url


@pytest.fixture
async def proxy(database: str) -> AsyncIterator[Proxy]:
    async with proxy_to(database) as proxy:
        yield proxy


def proxied_store(proxy: Proxy, database: str) -> PostgresStore:
    return PostgresStore(proxy.url(database), pool_size=2, connect_retries=0, connect_timeout_s=2)


LIST = "{ sessions { edges { node { lastMessage { serverId } } } } }"


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@needs_postgres
async def test_while_postgresql_is_away_it_is_not_ready_and_webhooks_answer_503_until_it_is_back(
    proxy: Proxy, database: str
) -> None:
    clock = Clock(T0)
    alice = {"Authorization": f"Bearer {bearer_token('alice')}"}
    async with proxied_store(proxy, database) as store:
        app = create_app(settings_for(proxy.url(database)), store, clock=clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            first = cc("m1", "bob", "alice", T0)
            assert (await post_signed(http, "/nim/cc", first, T0)).status_code == 200

            await proxy.cut()
            assert (await http.get("/readyz")).status_code == 503
            second = cc("m2", "bob", "alice", T0 + 1)
            answer = await post_signed(http, "/nim/cc", second, T0)
            assert error_of(answer) == (503, "STORE_UNAVAILABLE")
            team = {"type": "TEAM", "members": ["alice"]}
            answer = await post_signed(http, "/nim/teams/t1/members", team, T0, method="PUT")
            assert error_of(answer) == (503, "STORE_UNAVAILABLE")
            listed = (await http.post("/graphql", json={"query": LIST}, headers=alice)).json()
            assert [e["extensions"]["code"] for e in listed["errors"]] == ["STORE_UNAVAILABLE"]

            await proxy.open()  # back: nothing to restart
            assert (await http.get("/readyz")).status_code == 200
            answer = await post_signed(http, "/nim/cc", second, T0)  # NIM's retry
            assert answer.json() == {"outcome": "applied"}
            answer = await post_signed(http, "/nim/teams/t1/members", team, T0, method="PUT")
            assert answer.status_code == 200
            listed = (await http.post("/graphql", json={"query": LIST}, headers=alice)).json()
    edges = listed["data"]["sessions"]["edges"]
    assert [edge["node"]["lastMessage"]["serverId"] for edge in edges] == ["m2"]


@needs_postgres
async def test_a_subscription_woken_while_postgresql_is_away_waits_for_it_and_misses_nothing(
    proxy: Proxy, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.live")
    owner = f"alice-{uuid.uuid4().hex[:8]}"  # no other gateway on the database names them
    notifier = ChangeNotifier()
    async with (
        proxied_store(proxy, database) as store,
        PostgresStore(database, pool_size=1) as elsewhere,  # another replica, still connected
    ):
        store.add_listener(notifier)
        since = await store.sync_position(owner)
        events = follow(store, notifier, owner, since, capacity=100, on_overflow=_never)
        first = asyncio.create_task(anext(events))
        await until(lambda: waiting(store, owner))

        await proxy.cut()
        await send(elsewhere, "m1", "bob", owner, T0)
        notifier.notify(frozenset({owner}))  # as the other replica's notice would
        await until(lambda: "a subscription's read failed" in caplog.text)
        await proxy.open()
        batch = await asyncio.wait_for(first, 10)
        await events.aclose()
    assert [event.session.last_message_id for event in batch] == ["m1"]  # type: ignore[union-attr]


async def _never() -> None:
    raise AssertionError("no subscriber here falls behind")


# Two real replicas, their backends terminated three times under a stream of webhooks ----------

ACCOUNTS = 6
MESSAGES = 24  # per account, each from a peer of its own: every change is a session of its own
EVENTS = """subscription($since: String) { sessionEvents(since: $since) {
  ... on SessionUpserted { session { key lastMessage { serverId } } } } }"""


def cc(msgid: str, sender: str, to: str, sent: int) -> bytes:
    return orjson.dumps({"eventType": 1, "convType": "PERSON", "fromAccount": sender, "to": to,
                         "msgType": "TEXT", "body": "hi", "msgidServer": msgid,
                         "msgTimestamp": sent})  # fmt: skip


async def graphql(port: int, who: str, query: str) -> Any:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        headers = {"Authorization": f"Bearer {bearer_token(who)}"}
        answer = await http.post("/graphql", json={"query": query}, headers=headers)
    body = answer.json()
    assert not body.get("errors"), body
    return body["data"]


async def terminate_backends(application_name: str) -> int:
    """Terminates every connection the gateways hold (the test's own carry another name)."""
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        count = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1",
            application_name,
        )
    finally:
        await admin.close()
    return int(count)


@needs_postgres
async def test_replicas_whose_backends_are_terminated_lose_and_double_nothing(
    database: str,
) -> None:
    name = f"gw-chaos-{uuid.uuid4().hex[:8]}"
    env = {"GATEWAY_DATABASE_URL": f"{database}&application_name={name}",
           "GATEWAY_JWT_SECRET": SECRET, "GATEWAY_NIM_APP_SECRET": APP_SECRET,
           "GATEWAY_RATE_LIMIT_READS_PER_MINUTE": "0"}  # fmt: skip
    run = uuid.uuid4().hex[:6]
    accounts = [f"o{run}-{n}" for n in range(ACCOUNTS)]
    ports = [free_tcp_port(), free_tcp_port()]
    with gateway("serve", "--port", str(ports[0]), env=env) as a:
        a.wait_for("Uvicorn running")
        with gateway("serve", "--port", str(ports[1]), env=env) as b:
            b.wait_for("Uvicorn running")
            sockets = []
            for n, account in enumerate(accounts):  # half on each replica
                port = ports[n % 2]
                since = await graphql(port, account, "{ sessionChanges { syncToken } }")
                socket = await GraphQLSocket.connect(f"ws://127.0.0.1:{port}/graphql",
                                                     bearer_token(account))  # fmt: skip
                await socket.subscribe(EVENTS, since=since["sessionChanges"]["syncToken"])
                sockets.append(socket)

            acknowledged = 0
            refusals: list[tuple[int, str]] = []
            quarters = [asyncio.Event() for _ in range(3)]

            async def feed(n: int, account: str, http: list[httpx.AsyncClient]) -> None:
                nonlocal acknowledged
                for m in range(MESSAGES + 1):  # the last one after the chaos: a sentinel
                    if m == MESSAGES:
                        await chaos_done.wait()
                    body = cc(f"{account}-{m}", f"p{m:02d}", account, T0 + m)
                    while True:  # as NIM does: again until it is answered 200
                        answer = await http[(n + m) % 2].post(
                            "/nim/cc", content=body, headers=sign(APP_SECRET, body, now_ms())
                        )
                        if answer.status_code == 200:
                            break
                        refusals.append((answer.status_code, answer.json()["error"]["code"]))
                    acknowledged += 1
                    for q, quarter in enumerate(quarters):
                        if acknowledged >= (q + 1) * ACCOUNTS * MESSAGES // 4:
                            quarter.set()

            terminated = []
            chaos_done = asyncio.Event()

            async def chaos() -> None:
                for quarter in quarters:
                    await quarter.wait()
                    terminated.append(await terminate_backends(name))
                chaos_done.set()

            readers = [asyncio.create_task(received(socket, MESSAGES + 1)) for socket in sockets]
            async with (
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as on_a,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[1]}", timeout=30) as on_b,
            ):
                await asyncio.gather(
                    chaos(), *(feed(n, acc, [on_a, on_b]) for n, acc in enumerate(accounts))
                )
                ready = [(await http.get("/readyz")).status_code for http in (on_a, on_b)]

            seen = dict(zip(accounts, await asyncio.gather(*readers), strict=True))
            for socket in sockets:
                await socket.close()
            stored = {account: await graphql(ports[1], account, "{ sessions(first: 100) { "
                                             "edges { node { key lastMessage { serverId } } } } }")
                      for account in accounts}  # fmt: skip

    assert all(count >= 2 for count in terminated), terminated  # each time, both LISTENs at least
    assert {status for status, _ in refusals} <= {503}, refusals
    assert ready == [200, 200]
    for account in accounts:
        expected = [(f"p2p|p{m:02d}", f"{account}-{m}") for m in range(MESSAGES + 1)]
        assert seen[account] == expected, account  # each change once, in commit order
        edges = stored[account]["sessions"]["edges"]
        listed = {(e["node"]["key"], e["node"]["lastMessage"]["serverId"]) for e in edges}
        assert listed == set(expected), account


async def received(socket: GraphQLSocket, count: int) -> list[tuple[str, str]]:
    events = []
    for _ in range(count):
        session = (await socket.next_data(wait=20))["sessionEvents"]["session"]
        events.append((session["key"], session["lastMessage"]["serverId"]))
    return events


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_while_another_process_holds_the_sqlite_file_writes_answer_503_and_then_apply(
    tmp_path: Path,
) -> None:
    """The SQLite file is one process's, but a backup, the sqlite3 shell or `gateway import`
    run against a serving gateway can hold its write lock past the busy timeout: NIM is told to
    come back (503, as when PostgreSQL is away), a mutation gets STORE_UNAVAILABLE, reads go on
    (WAL), and the retry applies once the lock is gone."""
    path = tmp_path / "gateway.db"
    alice = {"Authorization": f"Bearer {bearer_token('alice')}"}
    mutation = 'mutation { updateSessionExt(input: {id: "p2p|bob", ext: "x"}) { session { key } } }'
    async with SqliteStore(path, busy_timeout_ms=50) as store:
        app = create_app(settings_for(f"sqlite:///{path}"), store, clock=Clock(T0))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            first = cc("m1", "bob", "alice", T0)
            assert (await post_signed(http, "/nim/cc", first, T0)).status_code == 200

            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
            try:
                second = cc("m2", "bob", "alice", T0 + 1)
                answer = await post_signed(http, "/nim/cc", second, T0)
                assert error_of(answer) == (503, "STORE_UNAVAILABLE")
                assert "locked" in answer.json()["error"]["message"]
                changed = await http.post("/graphql", json={"query": mutation}, headers=alice)
                codes = [e["extensions"]["code"] for e in changed.json()["errors"]]
                assert codes == ["STORE_UNAVAILABLE"]
                listed = (await http.post("/graphql", json={"query": LIST}, headers=alice)).json()
                assert "errors" not in listed
            finally:
                holder.execute("ROLLBACK")
                holder.close()

            answer = await post_signed(http, "/nim/cc", second, T0)  # NIM's retry
            assert answer.json() == {"outcome": "applied"}
            listed = (await http.post("/graphql", json={"query": LIST}, headers=alice)).json()
    edges = listed["data"]["sessions"]["edges"]
    assert [edge["node"]["lastMessage"]["serverId"] for edge in edges] == ["m2"]
