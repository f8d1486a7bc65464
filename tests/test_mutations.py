"""`updateSessionExt` and `deleteSessions`."""

from __future__ import annotations

import pytest

from gateway.store import SessionStore
from tests.conftest import Clock
from tests.helpers import T0, GraphQLClient, send

UPDATE = """mutation($id: ID!, $ext: String!) {
  updateSessionExt(input: {id: $id, ext: $ext}) {
    session { id key serverExt updateTime lastMessageKind }
  }
}"""
DELETE = """mutation($ids: [ID!]!) {
  deleteSessions(input: {ids: $ids}) { deletedIds deletedKeys }
}"""
LIST = "{ sessions { totalCount edges { node { key serverExt } } } }"


async def test_ext_is_set_and_read_back(store: SessionStore, alice: GraphQLClient) -> None:
    await send(store, "m1", "alice", "bob", T0)
    session = (await alice.ok(UPDATE, id="p2p|bob", ext='{"muted":true}'))["updateSessionExt"][
        "session"
    ]
    assert session["serverExt"] == '{"muted":true}'
    found = await alice.ok('{ session(id: "p2p|bob") { serverExt } }')
    assert found["session"]["serverExt"] == '{"muted":true}'


async def test_ext_does_not_reorder_the_list(store: SessionStore, alice: GraphQLClient) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await send(store, "m2", "alice", "carol", T0 + 1)
    session = (await alice.ok(UPDATE, id="p2p|bob", ext="x"))["updateSessionExt"]["session"]
    assert session["updateTime"] == "2026-09-21T14:13:20.000Z"
    keys = [e["node"]["key"] for e in (await alice.ok(LIST))["sessions"]["edges"]]
    assert keys == ["p2p|carol", "p2p|bob"]


async def test_ext_on_a_missing_session_creates_it_now(alice: GraphQLClient, clock: Clock) -> None:
    clock.now = 1_790_000_123_456
    session = (await alice.ok(UPDATE, id="team|9", ext="hello"))["updateSessionExt"]["session"]
    assert session["updateTime"] == "2026-09-21T14:15:23.456Z"
    assert session["lastMessageKind"] is None
    assert (await alice.ok(LIST))["sessions"]["totalCount"] == 1


async def test_ext_accepts_the_global_id(store: SessionStore, alice: GraphQLClient) -> None:
    await send(store, "m1", "alice", "bob", T0)
    global_id = (await alice.ok('{ session(id: "p2p|bob") { id } }'))["session"]["id"]
    session = (await alice.ok(UPDATE, id=global_id, ext="y"))["updateSessionExt"]["session"]
    assert (session["key"], session["serverExt"]) == ("p2p|bob", "y")


async def test_ext_of_1024_bytes_is_accepted_and_1025_refused(alice: GraphQLClient) -> None:
    await alice.ok(UPDATE, id="p2p|bob", ext="é" * 512)  # 1024 bytes of UTF-8
    result = await alice(UPDATE, id="p2p|bob", ext="é" * 512 + "x")
    assert result.codes == ["BAD_USER_INPUT"]
    assert "1024" in result.errors[0]["message"]
    found = await alice.ok('{ session(id: "p2p|bob") { serverExt } }')
    assert found["session"]["serverExt"] == "é" * 512


async def test_delete_removes_sessions_from_the_list(
    store: SessionStore, alice: GraphQLClient
) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await send(store, "m2", "alice", "carol", T0 + 1)
    bob_id = (await alice.ok('{ session(id: "p2p|bob") { id } }'))["session"]["id"]

    deleted = (await alice.ok(DELETE, ids=[bob_id, "p2p|nobody"]))["deleteSessions"]
    assert deleted == {"deletedIds": [bob_id], "deletedKeys": ["p2p|bob"]}
    assert [e["node"]["key"] for e in (await alice.ok(LIST))["sessions"]["edges"]] == ["p2p|carol"]
    assert (await alice.ok('{ session(id: "p2p|bob") { id } }'))["session"] is None


async def test_deleting_does_not_touch_the_peers_session(store: SessionStore, alice: GraphQLClient,
                                                        bob: GraphQLClient) -> None:  # fmt: skip
    await send(store, "m1", "alice", "bob", T0)
    await alice.ok(DELETE, ids=["p2p|bob"])
    assert (await bob.ok(LIST))["sessions"]["totalCount"] == 1


@pytest.mark.parametrize("count", [0, 101])
async def test_delete_takes_one_to_one_hundred_ids(alice: GraphQLClient, count: int) -> None:
    result = await alice(DELETE, ids=[f"p2p|u{n}" for n in range(count)])
    assert result.codes == ["BAD_USER_INPUT"]


async def test_one_bad_id_deletes_nothing(store: SessionStore, alice: GraphQLClient) -> None:
    await send(store, "m1", "alice", "bob", T0)
    result = await alice(DELETE, ids=["p2p|bob", "not-an-id"])
    assert result.codes == ["BAD_USER_INPUT"]
    assert (await alice.ok(LIST))["sessions"]["totalCount"] == 1


async def test_an_ext_with_a_nul_character_is_refused(alice: GraphQLClient) -> None:
    assert (await alice(UPDATE, id="p2p|bob", ext="a\x00b")).codes == ["BAD_USER_INPUT"]
