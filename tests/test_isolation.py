"""Every query and mutation acts only on the viewer's own sessions."""

from __future__ import annotations

import pytest

from gateway.store import SessionStore
from tests.helpers import T0, GraphQLClient, send

PAGE = """query($after: String) { sessions(first: 1, after: $after) {
  totalCount edges { node { key } } pageInfo { endCursor } } }"""


@pytest.fixture
async def bobs_team_session(store: SessionStore) -> str:
    """bob has a team session alice is not in, plus a P2P session with carol."""
    from gateway.domain.sessions import Delivery
    from tests.helpers import team, text_message

    await store.record_message(text_message("t1", "bob", T0), [Delivery("bob", team("77"))])
    await send(store, "m1", "bob", "carol", T0 + 1)
    await send(store, "m2", "bob", "dave", T0 + 2)
    return "team|77"


async def test_alice_cannot_read_bobs_sessions_by_key_or_id(
    bobs_team_session: str, alice: GraphQLClient, bob: GraphQLClient
) -> None:
    bobs = await bob.ok("{ sessions { edges { node { id } } } }")
    bob_ids = [edge["node"]["id"] for edge in bobs["sessions"]["edges"]]
    for id in [bobs_team_session, "p2p|carol", *bob_ids]:
        assert (await alice.ok("query($id: ID!) { session(id: $id) { key } }", id=id))[
            "session"
        ] is None
        assert (await alice.ok("query($id: ID!) { node(id: $id) { id } }", id=id))["node"] is None
    assert (await alice.ok(PAGE))["sessions"] == {
        "totalCount": 0, "edges": [], "pageInfo": {"endCursor": None},
    }  # fmt: skip


async def test_bobs_cursor_does_not_work_for_alice(
    store: SessionStore, bobs_team_session: str, alice: GraphQLClient, bob: GraphQLClient
) -> None:
    await send(store, "a1", "alice", "erin", T0)
    bobs_cursor = (await bob.ok(PAGE))["sessions"]["pageInfo"]["endCursor"]
    result = await alice(PAGE, after=bobs_cursor)
    assert result.codes == ["BAD_USER_INPUT"]
    assert "p2p" not in result.errors[0]["message"]


async def test_alice_cannot_change_or_delete_bobs_sessions(
    bobs_team_session: str, alice: GraphQLClient, bob: GraphQLClient
) -> None:
    update = """mutation($id: ID!) { updateSessionExt(input: {id: $id, ext: "hacked"}) {
      session { serverExt } } }"""
    await alice.ok(update, id=bobs_team_session)  # creates alice's own session, nothing else
    deleted = await alice.ok(
        "mutation($ids: [ID!]!) { deleteSessions(input: {ids: $ids}) { deletedKeys } }",
        ids=["p2p|carol", "p2p|dave"],
    )
    assert deleted["deleteSessions"]["deletedKeys"] == []

    bobs = await bob.ok("{ sessions { totalCount edges { node { key serverExt } } } }")
    assert bobs["sessions"]["totalCount"] == 3
    assert {e["node"]["serverExt"] for e in bobs["sessions"]["edges"]} == {""}
