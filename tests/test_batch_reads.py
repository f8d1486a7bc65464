"""Batch reads (Relay's nodes, sessions by ids or NIM keys) and a session opened without a message
(NIM V2's createConversation)."""

from __future__ import annotations

from tests.conftest import Clock, Webhook
from tests.helpers import T0, GraphQLClient, cc_message

NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
  ... on Session { key } ... on SessionGroup { name } } }"""
BY_IDS = "query($ids: [ID!]!) { sessionsByIds(ids: $ids) { key unreadCount lastMessage { text } } }"
OPEN = """mutation($id: ID!) { createSession(input: {id: $id}) { session {
  key updateTime lastMessageKind lastMessage { text } unreadCount } } }"""


async def test_sessions_by_ids_come_in_the_order_asked_with_nulls(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0, text="from bob"))
    await webhook.ok(cc_message("m2", "carol", "alice", T0 + 1, text="from carol"))
    bob_id = (await alice.ok('{ session(id: "p2p|bob") { id } }'))["session"]["id"]
    found = await alice.ok(BY_IDS, ids=["p2p|carol", "p2p|nobody", bob_id, "p2p|carol"])
    assert found["sessionsByIds"] == [
        {"key": "p2p|carol", "unreadCount": 1, "lastMessage": {"text": "from carol"}},
        None,
        {"key": "p2p|bob", "unreadCount": 1, "lastMessage": {"text": "from bob"}},
        {"key": "p2p|carol", "unreadCount": 1, "lastMessage": {"text": "from carol"}},
    ]


async def test_nodes_serve_sessions_and_groups_of_the_viewer_only(
    webhook: Webhook, alice: GraphQLClient, bob: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    created = await alice.ok('mutation { createSessionGroup(input: {name: "Work"}) '
                             "{ group { id } } }")  # fmt: skip
    group = created["createSessionGroup"]["group"]["id"]
    found = (await alice.ok(NODES, ids=[group, "p2p|bob", "p2p|zed"]))["nodes"]
    assert [n and n["__typename"] for n in found] == ["SessionGroup", "Session", None]
    assert found[0]["name"] == "Work"
    one = await alice.ok("query($id: ID!) { node(id: $id) { ... on SessionGroup { name } } }",
                         id=group)  # fmt: skip
    assert one["node"] == {"name": "Work"}
    assert (await bob.ok(NODES, ids=[group]))["nodes"] == [None]


async def test_batch_reads_take_at_most_100_ids(alice: GraphQLClient) -> None:
    ids = [f"p2p|x{n}" for n in range(101)]
    assert (await alice(BY_IDS, ids=ids)).codes == ["BAD_USER_INPUT"]
    assert (await alice(NODES, ids=ids)).codes == ["BAD_USER_INPUT"]
    assert (await alice.ok(BY_IDS, ids=[]))["sessionsByIds"] == []


async def test_a_session_opened_without_a_message_is_listed_now(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    opened = (await alice.ok(OPEN, id="p2p|zoe"))["createSession"]["session"]
    assert opened == {"key": "p2p|zoe", "updateTime": "2026-09-21T15:13:20.000Z",
                      "lastMessageKind": None, "lastMessage": None, "unreadCount": 0}  # fmt: skip
    listed = await alice.ok("{ sessions { nodes { key } } }")
    assert listed["sessions"]["nodes"] == [{"key": "p2p|zoe"}]
    await webhook.ok(cc_message("z1", "zoe", "alice", clock.now + 5, text="hi alice"))
    after = (await alice.ok(OPEN, id="p2p|zoe"))["createSession"]["session"]  # as it is
    assert after["lastMessage"] == {"text": "hi alice"}
    assert after["unreadCount"] == 1


async def test_opening_an_existing_session_changes_nothing(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    token = (await alice.ok("{ sessionChanges { syncToken } }"))["sessionChanges"]["syncToken"]
    clock.now += 1000
    opened = (await alice.ok(OPEN, id="p2p|bob"))["createSession"]["session"]
    assert opened["updateTime"] == "2026-09-21T14:13:20.000Z"
    changes = await alice.ok(
        "query($s: String) { sessionChanges(since: $s) { changed { key } } }", s=token
    )
    assert changes["sessionChanges"]["changed"] == []


async def test_a_deleted_session_opens_again_fresh(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    await alice.ok('mutation { deleteSessions(input: {ids: ["p2p|bob"]}) { deletedIds } }')
    clock.now += 1000
    opened = (await alice.ok(OPEN, id="p2p|bob"))["createSession"]["session"]
    assert (opened["lastMessage"], opened["unreadCount"]) == (None, 0)
    assert opened["updateTime"] == "2026-09-21T15:13:21.000Z"
    await webhook.ok(cc_message("m0", "bob", "alice", T0 - 1))  # older than the deletion
    still = (await alice.ok(OPEN, id="p2p|bob"))["createSession"]["session"]
    assert still["lastMessage"] is None
