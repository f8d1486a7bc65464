"""Two gateway replicas on one PostgreSQL: what one commits, the other's subscribers see, and
racing replicas apply each message once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.domain.checksum import sign, sign_request
from tests.conftest import POSTGRES_URL, postgres_schema, sync_postgres_schema
from tests.helpers import APP_SECRET, SECRET
from tests.helpers import bearer_token as token
from tests.process import free_tcp_port, gateway
from tests.ws import GraphQLSocket

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="replicas need PostgreSQL: set GATEWAY_TEST_POSTGRES_URL"
)
EVENTS = """subscription($since: String) { sessionEvents(since: $since) {
  ... on SessionUpserted { session { key serverExt unreadCount lastMessage { serverId } } } } }"""


@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[int, int]]:
    with sync_postgres_schema(POSTGRES_URL) as url:
        env = {"GATEWAY_DATABASE_URL": url, "GATEWAY_JWT_SECRET": SECRET,
               "GATEWAY_NIM_APP_SECRET": APP_SECRET}  # fmt: skip
        a_port, b_port = free_tcp_port(), free_tcp_port()
        with gateway("serve", "--port", str(a_port), env=env) as a:
            a.wait_for("Uvicorn running")
            with gateway("serve", "--port", str(b_port), env=env) as b:
                b.wait_for("Uvicorn running")
                yield a_port, b_port


async def graphql(port: int, who: str, query: str, **variables: Any) -> Any:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        response = await http.post("/graphql", json={"query": query, "variables": variables},
                                   headers={"Authorization": f"Bearer {token(who)}"})  # fmt: skip
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


def cc(msgid: str, sender: str, to: str, sent: int) -> bytes:
    return orjson.dumps({"eventType": 1, "convType": "PERSON", "fromAccount": sender, "to": to,
                         "msgType": "TEXT", "body": "hi", "msgidServer": msgid,
                         "msgTimestamp": sent})  # fmt: skip


async def post(http: httpx.AsyncClient, body: bytes) -> str:
    response = await http.post("/nim/cc", content=body,
                               headers=sign(APP_SECRET, body, int(time.time() * 1000)))  # fmt: skip
    assert response.status_code == 200, response.text
    outcome: str = response.json()["outcome"]
    return outcome


async def test_a_change_through_one_replica_reaches_a_subscriber_of_the_other(
    replicas: tuple[int, int],
) -> None:
    a, b = replicas
    alice, bob = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    since = (await graphql(b, alice, "{ sessionChanges { syncToken } }"))["sessionChanges"]
    socket = await GraphQLSocket.connect(f"ws://127.0.0.1:{b}/graphql", token(alice))
    await socket.subscribe(EVENTS, since=since["syncToken"])

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{a}") as http:
        await post(http, cc(f"m-{alice}", bob, alice, int(time.time() * 1000)))
    await graphql(a, alice, 'mutation($id: ID!) { updateSessionExt(input: {id: $id, ext: "x"}) '
                  "{ session { key } } }", id=f"p2p|{bob}")  # fmt: skip

    message = (await socket.next_data(wait=5))["sessionEvents"]["session"]
    ext = (await socket.next_data(wait=5))["sessionEvents"]["session"]
    await socket.close()
    assert message["lastMessage"] == {"serverId": f"m-{alice}"}
    assert (ext["key"], ext["serverExt"]) == (f"p2p|{bob}", "x")


async def test_racing_replicas_apply_each_message_once(replicas: tuple[int, int]) -> None:
    a, b = replicas
    alice = f"r-{uuid.uuid4().hex[:8]}"
    now = int(time.time() * 1000)
    bodies = [cc(f"{alice}-{n}", f"peer{n % 5}", alice, now + n) for n in range(100)]
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{a}") as on_a,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{b}") as on_b,
    ):
        outcomes = await asyncio.gather(
            *(post(on_a, body) for body in bodies), *(post(on_b, body) for body in bodies)
        )
    assert outcomes.count("applied") == 100
    assert outcomes.count("duplicate") == 100
    data = await graphql(a, alice, "{ totalUnreadCount sessions { edges { node { key "
                         "unreadCount lastMessage { serverId } } } } }")  # fmt: skip
    assert data["totalUnreadCount"] == 100
    last = {e["node"]["key"]: e["node"]["lastMessage"]["serverId"]
            for e in data["sessions"]["edges"]}  # fmt: skip
    assert last == {f"p2p|peer{p}": f"{alice}-{95 + p}" for p in range(5)}


async def test_a_recall_racing_its_message_on_another_replica_still_revokes_it(
    replicas: tuple[int, int],
) -> None:
    a, b = replicas
    alice = f"v-{uuid.uuid4().hex[:8]}"
    now = int(time.time() * 1000)
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{a}") as on_a,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{b}") as on_b,
    ):
        jobs = []
        for n in range(30):
            message = cc(f"{alice}-{n}", f"peer{n}", alice, now + n)
            recall = orjson.dumps({"eventType": "7", "msgId": f"{alice}-{n}", "from": f"peer{n}",
                                   "to": alice, "deleteTime": str(now + n + 1),
                                   "sendTime": str(now + n)})  # fmt: skip
            jobs += [post(on_a, message), post(on_b, recall)]
        await asyncio.gather(*jobs)
    data = await graphql(a, alice, "{ totalUnreadCount sessions { totalCount edges { node { "
                         "lastMessageKind } } } }")  # fmt: skip
    kinds = {edge["node"]["lastMessageKind"] for edge in data["sessions"]["edges"]}
    assert data["sessions"]["totalCount"] == 30
    assert kinds == {"REVOKE_NOTIFICATION"}
    assert data["totalUnreadCount"] == 0


async def test_a_registry_request_replayed_to_the_other_replica_is_refused(
    replicas: tuple[int, int],
) -> None:
    a, b = replicas
    target = f"/nim/teams/{uuid.uuid4().hex[:8]}/members"
    body = orjson.dumps({"type": "TEAM", "members": ["alice"]})
    headers = sign_request(APP_SECRET, "PUT", target, body, int(time.time() * 1000))
    answers = []
    for port in (a, b):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            answers.append(await http.put(target, content=body, headers=headers))
    assert answers[0].status_code == 200, answers[0].text
    assert (answers[1].status_code, answers[1].json()["error"]["code"]) == (403, "REPLAYED")


async def test_after_a_replica_restarts_its_clients_catch_up_with_their_token() -> None:
    alice, bob = f"c-{uuid.uuid4().hex[:8]}", f"d-{uuid.uuid4().hex[:8]}"
    events = """subscription($since: String) { sessionEvents(since: $since) {
      ... on SessionUpserted { syncToken session { lastMessage { serverId } } } } }"""
    async with postgres_schema(POSTGRES_URL) as url:
        env = {"GATEWAY_DATABASE_URL": url, "GATEWAY_JWT_SECRET": SECRET,
               "GATEWAY_NIM_APP_SECRET": APP_SECRET}  # fmt: skip
        a, b = free_tcp_port(), free_tcp_port()
        with gateway("serve", "--port", str(a), env=env) as replica_a:
            replica_a.wait_for("Uvicorn running")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{a}") as http:
                with gateway("serve", "--port", str(b), env=env) as replica_b:
                    replica_b.wait_for("Uvicorn running")
                    now = await graphql(b, alice, "{ sessionChanges { syncToken } }")
                    socket = await GraphQLSocket.connect(f"ws://127.0.0.1:{b}/graphql",
                                                         token(alice))  # fmt: skip
                    await socket.subscribe(events, since=now["sessionChanges"]["syncToken"])
                    await post(http, cc(f"{alice}-1", bob, alice, int(time.time() * 1000)))
                    last_token = (await socket.next_data(wait=5))["sessionEvents"]["syncToken"]
                # replica B is gone (its client too); writes go on through A
                for n in range(2, 5):
                    await post(http, cc(f"{alice}-{n}", bob, alice, int(time.time() * 1000) + n))
            with gateway("serve", "--port", str(b), env=env) as restarted:
                restarted.wait_for("Uvicorn running")
                socket = await GraphQLSocket.connect(f"ws://127.0.0.1:{b}/graphql", token(alice))
                await socket.subscribe(events, since=last_token)
                caught_up = (await socket.next_data(wait=5))["sessionEvents"]
                await socket.close()
    # Catching up gives each changed session once, as it is now: the last of the three messages.
    assert caught_up["session"]["lastMessage"] == {"serverId": f"{alice}-4"}
    assert caught_up["syncToken"] != last_token


async def test_workers_share_one_postgresql_and_wake_each_others_subscribers() -> None:
    alice, bob = f"w-{uuid.uuid4().hex[:8]}", f"x-{uuid.uuid4().hex[:8]}"
    async with postgres_schema(POSTGRES_URL) as url:
        env = {"GATEWAY_DATABASE_URL": url, "GATEWAY_JWT_SECRET": SECRET,
               "GATEWAY_NIM_APP_SECRET": APP_SECRET, "GATEWAY_LOG_FORMAT": "json"}  # fmt: skip
        port = free_tcp_port()
        with gateway("serve", "--port", str(port), "--workers", "2", env=env) as server:
            for _ in range(2):  # each worker logs as configured, like a single process
                started = orjson.loads(server.wait_for("Application startup complete"))
                assert started["logger"] == "uvicorn.error"
            since = await graphql(port, alice, "{ sessionChanges { syncToken } }")
            sockets = [await GraphQLSocket.connect(f"ws://127.0.0.1:{port}/graphql", token(alice))
                       for _ in range(4)]  # fmt: skip
            for socket in sockets:
                await socket.subscribe(EVENTS, since=since["sessionChanges"]["syncToken"])
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                await post(http, cc(f"{alice}-1", bob, alice, int(time.time() * 1000)))
                asked = await http.get("/healthz", headers={"X-Request-ID": f"{alice}-health"})
                assert asked.headers["X-Request-ID"] == f"{alice}-health"
            access = orjson.loads(server.wait_for(f"{alice}-health"))
            assert access["request_id"] == f"{alice}-health"
            assert access["logger"] == "uvicorn.access"
            # whichever worker took the webhook, subscribers on both workers hear of it
            for socket in sockets:
                event = (await socket.next_data(wait=5))["sessionEvents"]["session"]
                assert event["lastMessage"] == {"serverId": f"{alice}-1"}
                await socket.close()


def test_workers_need_postgresql(tmp_path: object) -> None:
    from click.testing import CliRunner

    from gateway.cli import main

    result = CliRunner().invoke(main, ["serve", "--workers", "2", "--db", "x.db"],
                                env={"GATEWAY_JWT_SECRET": SECRET})  # fmt: skip
    assert result.exit_code != 0
    assert "PostgreSQL" in result.output
