"""`sessionEvents` over graphql-transport-ws, against a real gateway process."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
import pytest

from gateway.domain.checksum import sign
from tests.conftest import module_database
from tests.helpers import APP_SECRET, SECRET, bearer_token
from tests.process import GatewayProcess, free_tcp_port, gateway
from tests.ws import Closed, GraphQLSocket

EVENTS = """subscription($since: String) { sessionEvents(since: $since) {
  __typename
  ... on SessionUpserted { syncToken session { key serverExt lastMessageKind
                                               lastMessage { serverId text } } }
  ... on SessionsDeleted { syncToken ids keys }
} }"""
SET_EXT = """mutation($id: ID!, $ext: String!) {
  updateSessionExt(input: {id: $id, ext: $ext}) { session { key } } }"""
DELETE = "mutation($ids: [ID!]!) { deleteSessions(input: {ids: $ids}) { deletedIds } }"
MARK_READ = "mutation($ids: [ID!]!) { markSessionsRead(input: {ids: $ids}) { sessions { key } } }"
PIN = "mutation($id: ID!) { pinSession(input: {id: $id, pinned: true}) { session { key } } }"
CHANGES = """query($since: String) { sessionChanges(since: $since) {
  changed { key serverExt lastMessageKind lastMessage { serverId text } }
  deletedKeys syncToken hasMore } }"""


@dataclass
class Server:
    process: GatewayProcess
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=10)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with module_database(request.param, tmp_path_factory, "live") as url:
        yield url


@pytest.fixture(scope="module")
def server(database: str) -> Iterator[Server]:
    port = free_tcp_port()
    env = {
        "GATEWAY_DATABASE_URL": database,
        "GATEWAY_JWT_SECRET": SECRET,
        "GATEWAY_NIM_APP_SECRET": APP_SECRET,
        "GATEWAY_WS_EVENT_QUEUE_SIZE": "8",
        "GATEWAY_WS_MAX_CONNECTIONS_PER_ACCOUNT": "3",
        "GATEWAY_ALLOWED_ORIGINS": "https://app.example",
    }
    with gateway("serve", "--port", str(port), env=env) as process:
        process.wait_for("Uvicorn running", timeout=30)
        yield Server(process, port)


def account() -> str:
    return f"u-{uuid.uuid4().hex[:10]}"


def now_ms() -> int:
    return int(time.time() * 1000)


async def post_message(http: httpx.AsyncClient, msgid: str, sender: str, to: str,
                       text: str = "hi") -> None:  # fmt: skip
    body = {"eventType": 1, "convType": "PERSON", "fromAccount": sender, "to": to,
            "msgType": "TEXT", "body": text, "msgidServer": msgid,
            "msgTimestamp": now_ms()}  # fmt: skip
    await post_cc(http, body)


async def post_cc(http: httpx.AsyncClient, body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    response = await http.post("/nim/cc", content=raw, headers=sign(APP_SECRET, raw, now_ms()))
    assert response.status_code == 200, response.text


async def graphql(http: httpx.AsyncClient, who: str, query: str, **variables: Any) -> Any:
    headers = {"Authorization": f"Bearer {bearer_token(who)}"}
    response = await http.post("/graphql", json={"query": query, "variables": variables},
                               headers=headers)  # fmt: skip
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def now_token(server: Server, who: str) -> str:
    async with server.http as http:
        data = await graphql(http, who, "{ sessionChanges { syncToken } }")
    token: str = data["sessionChanges"]["syncToken"]
    return token


async def subscribe(
    server: Server, who: str, since: str | None = None, **connect: Any
) -> GraphQLSocket:
    """Subscribe from a token taken first, as clients do, so no change can slip between."""
    since = since or await now_token(server, who)
    socket = await GraphQLSocket.connect(server.ws_url, bearer_token(who), **connect)
    await socket.subscribe(EVENTS, since=since)
    return socket


async def test_ingest_ext_update_delete_and_recall_arrive_as_events(server: Server) -> None:
    alice, bob = account(), account()
    socket = await subscribe(server, alice)
    async with server.http as http:
        await post_message(http, "m1-" + alice, bob, alice, "hello")
        first = (await socket.next_data())["sessionEvents"]
        assert first["__typename"] == "SessionUpserted"
        assert first["session"]["key"] == f"p2p|{bob}"
        assert first["session"]["lastMessage"] == {"serverId": "m1-" + alice, "text": "hello"}
        await graphql(http, alice, SET_EXT, id=f"p2p|{bob}", ext="pin")
        await post_cc(http, {"eventType": "7", "msgId": "m1-" + alice, "from": bob, "to": alice,
                             "deleteTime": str(now_ms())})  # fmt: skip
        await graphql(http, alice, DELETE, ids=[f"p2p|{bob}"])
    events = [await socket.next_data() for _ in range(3)]
    ext, recall, deletion = (e["sessionEvents"] for e in events)
    await socket.close()
    assert ext["session"]["serverExt"] == "pin"
    assert recall["session"]["lastMessageKind"] == "REVOKE_NOTIFICATION"
    assert deletion["__typename"] == "SessionsDeleted"
    assert deletion["keys"] == [f"p2p|{bob}"]
    tokens = [first["syncToken"], ext["syncToken"], recall["syncToken"], deletion["syncToken"]]
    assert len(set(tokens)) == 4


async def test_a_viewer_gets_only_their_own_events(server: Server) -> None:
    alice, bob, carol = account(), account(), account()
    socket = await subscribe(server, alice)
    async with server.http as http:
        await post_message(http, f"x-{bob}", bob, carol)  # not alice's
        await post_message(http, f"y-{alice}", carol, alice)
    event = (await socket.next_data())["sessionEvents"]
    await socket.close()
    assert event["session"]["key"] == f"p2p|{carol}"


@pytest.mark.parametrize("bad", [None, "garbage", "expired"])
async def test_a_bad_or_missing_token_closes_with_4403(server: Server, bad: str | None) -> None:
    expired = jwt.encode({"sub": "x", "exp": int(time.time()) - 5}, SECRET, algorithm="HS256")
    value = {"garbage": "not-a-jwt", "expired": expired}.get(bad or "")
    with pytest.raises(Closed) as closed:
        await GraphQLSocket.connect(server.ws_url, value)
    assert closed.value.code == 4403


async def test_connections_per_account_are_limited(server: Server) -> None:
    alice = account()
    sockets = [await GraphQLSocket.connect(server.ws_url, bearer_token(alice)) for _ in range(3)]
    with pytest.raises(Closed) as closed:
        await GraphQLSocket.connect(server.ws_url, bearer_token(alice))
    assert closed.value.code == 4403
    await sockets[0].close()
    again = await _connect_when_free(server, alice)
    for socket in [*sockets[1:], again]:
        await socket.close()


async def _connect_when_free(server: Server, who: str) -> GraphQLSocket:
    """Connects once the server has seen a close (it frees the slot when it does)."""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        try:
            return await GraphQLSocket.connect(server.ws_url, bearer_token(who))
        except Closed:
            await asyncio.sleep(0.05)
    raise AssertionError("the closed connection's slot never came back")


async def test_origins_outside_the_allow_list_are_refused(server: Server) -> None:
    import websockets

    with pytest.raises(websockets.InvalidStatus):
        await GraphQLSocket.connect(
            server.ws_url, bearer_token(account()), origin="https://evil.example"
        )
    allowed = await GraphQLSocket.connect(server.ws_url, bearer_token(account()),
                                          origin="https://app.example")  # fmt: skip
    await allowed.close()


async def test_reconnecting_with_the_last_token_loses_and_doubles_nothing(server: Server) -> None:
    alice, opener, closer = account(), account(), account()
    peers = [account() for _ in range(5)]
    seen: dict[str, str] = {}  # key -> last message id, as the client's store holds it
    delivered: list[str] = []  # the message of every event, in the order they came

    def apply(event: dict[str, Any]) -> str:
        assert event["__typename"] == "SessionUpserted", event
        seen[event["session"]["key"]] = event["session"]["lastMessage"]["serverId"]
        delivered.append(event["session"]["lastMessage"]["serverId"])
        token: str = event["syncToken"]
        return token

    async with server.http as http:
        socket = await subscribe(server, alice)
        await post_message(http, f"{alice}-open", opener, alice)
        apply((await socket.next_data())["sessionEvents"])  # live: every later commit is pushed

        async def writer() -> None:
            for n in range(60):
                await post_message(http, f"{alice}-{n}", peers[n % 5], alice, f"n{n}")

        task = asyncio.create_task(writer())
        for _ in range(10):
            last = apply((await socket.next_data())["sessionEvents"])
        await socket.close()  # the connection drops mid-stream
        assert delivered == [f"{alice}-open", *(f"{alice}-{n}" for n in range(10))]

        resumed = await subscribe(server, alice, since=last)
        await task
        await post_message(http, f"{alice}-close", closer, alice)  # the last event to expect
        for _ in range(50 + 1):  # one event at most for each message still to come
            last = apply((await resumed.next_data())["sessionEvents"])
            if delivered[-1] == f"{alice}-close":
                break
        else:
            twice = [message for message, n in Counter(delivered).items() if n > 1]
            raise AssertionError(f"more events than messages; delivered twice: {twice}")
        await resumed.close()
        final = await graphql(
            http, alice, "{ sessions { edges { node { key lastMessage { serverId } } } } }"
        )
        truth = {e["node"]["key"]: e["node"]["lastMessage"]["serverId"]
                 for e in final["sessions"]["edges"]}  # fmt: skip
        catch_up = await graphql(http, alice, CHANGES, since=last)

    # The resumed stream catches up with each session's latest message (older ones of a session
    # may be folded into it), then follows the commits: every message at most once, in order,
    # and the last message of every peer among them.
    resumed_numbers = [int(m.rsplit("-", 1)[1]) for m in delivered[11:-1]]
    assert resumed_numbers == sorted(set(resumed_numbers)), delivered
    assert resumed_numbers[-5:] == [55, 56, 57, 58, 59]
    assert resumed_numbers[0] >= 10
    assert seen == truth
    assert catch_up["sessionChanges"]["changed"] == []


async def test_a_slow_subscriber_is_closed_and_ingestion_keeps_going(server: Server) -> None:
    alice, bob = account(), account()
    slow = await subscribe(server, alice, receive_buffer=4096, max_queue=1)
    fast = await subscribe(server, bob)
    big = "x" * 30_000
    async with server.http as http:
        for n in range(300):  # every one is acknowledged while the slow client reads nothing
            await post_message(http, f"{alice}-{n}", bob, alice, big)
            # The other subscriber gets each event in turn (read before the next is posted, so
            # a loaded machine cannot make it fall behind too).
            event = (await fast.next_data(wait=30))["sessionEvents"]
            assert event["session"]["lastMessage"]["serverId"] == f"{alice}-{n}"
    await fast.close()
    closed = await slow.drain_until_closed()
    assert closed.code == 4008


async def test_two_clients_of_one_account_and_a_reconnecting_third(server: Server) -> None:
    alice, bob, carol = account(), account(), account()
    async with server.http as http:
        await post_message(http, f"a-{alice}", bob, alice)
        await post_message(http, f"b-{alice}", carol, alice)
        old = (await graphql(http, alice, "{ sessions { syncToken } }"))["sessions"]["syncToken"]
        second = await subscribe(server, alice)
        await graphql(http, alice, DELETE, ids=[f"p2p|{bob}"])
        await graphql(http, alice, SET_EXT, id=f"p2p|{carol}", ext="v")
        # Live: the commits hand their changes to the subscription (no polling; the work is
        # counted in test_live_feed.py), so the two events come in commit order.
        deleted = (await second.next_data())["sessionEvents"]
        updated = (await second.next_data())["sessionEvents"]
        await second.close()

        third = (await graphql(http, alice, CHANGES, since=old))["sessionChanges"]
    assert (deleted["__typename"], deleted["keys"]) == ("SessionsDeleted", [f"p2p|{bob}"])
    assert updated["session"]["key"] == f"p2p|{carol}"
    assert third["deletedKeys"] == deleted["keys"]
    assert [s["key"] for s in third["changed"]] == [updated["session"]["key"]]
    assert third["changed"][0]["serverExt"] == "v"
    assert third["syncToken"] == updated["syncToken"]


async def test_unread_and_pin_changes_reach_subscribers(server: Server) -> None:
    alice, bob = account(), account()
    async with server.http as http:
        await post_message(http, f"u-{alice}", bob, alice)
        since = await now_token(server, alice)
        socket = await GraphQLSocket.connect(server.ws_url, bearer_token(alice))
        await socket.subscribe(
            "subscription($since: String) { sessionEvents(since: $since) { "
            "... on SessionUpserted { session { key unreadCount pinned } } } }",
            since=since,
        )
        await graphql(http, alice, MARK_READ, ids=[f"p2p|{bob}"])
        await graphql(http, alice, PIN, id=f"p2p|{bob}")
    # Each change as it commits; or, where the subscription first reads its feed after both
    # (the server may take the subscribe after the mutations), the session once, as it is now.
    seen = [(await socket.next_data())["sessionEvents"]["session"]]
    if not seen[-1]["pinned"]:
        seen.append((await socket.next_data())["sessionEvents"]["session"])
    await socket.close()
    marked = {"key": f"p2p|{bob}", "unreadCount": 0, "pinned": False}
    pinned = {"key": f"p2p|{bob}", "unreadCount": 0, "pinned": True}
    assert seen in ([marked, pinned], [pinned])
