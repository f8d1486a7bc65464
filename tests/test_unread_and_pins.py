"""Beyond NIM V1: unread counts and read marks, pinning, and list filters."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest

from gateway.store import SessionStore
from tests.conftest import Clock, Webhook
from tests.helpers import T0, GraphQLClient, bounded_pages, cc_message, cc_recall

UNREAD = """query($id: ID!) { session(id: $id) { unreadCount lastReadTime } totalUnreadCount }"""
MARK = """mutation($ids: [ID!]!) { markSessionsRead(input: {ids: $ids}) {
  sessions { key unreadCount lastReadTime } } }"""
MARK_ALL = "mutation { markAllSessionsRead { totalUnreadCount } }"
PIN = """mutation($id: ID!, $pinned: Boolean!) { pinSession(input: {id: $id, pinned: $pinned}) {
  session { key pinned pinnedAt updateTime } } }"""
LIST = """query($first: Int, $after: String, $types: [SessionType!], $onlyUnread: Boolean,
               $pinned: Boolean, $pinnedFirst: Boolean, $min: DateTime) {
  sessions(first: $first, after: $after, types: $types, onlyUnread: $onlyUnread, pinned: $pinned,
           pinnedFirst: $pinnedFirst, minTimestamp: $min) {
    totalCount edges { node { key pinned } } pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}"""


async def unread(client: GraphQLClient, key: str) -> int:
    data = await client.ok(UNREAD, id=key)
    count: int = data["session"]["unreadCount"]
    return count


async def keys(client: GraphQLClient, **variables: Any) -> list[str]:
    data = await client.ok(LIST, **variables)
    return [edge["node"]["key"] for edge in data["sessions"]["edges"]]


async def walk(client: GraphQLClient, page_size: int, sessions: int, **variables: Any) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in bounded_pages(sessions, page_size):
        page = (await client.ok(LIST, first=page_size, after=after, **variables))["sessions"]
        seen += [edge["node"]["key"] for edge in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None and bool(seen))
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("unreachable: bounded_pages fails the walk first")


# Unread counts ----------------------------------------------------------------------------------


async def test_messages_from_others_raise_the_count_and_own_ones_do_not(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    await webhook.ok(cc_message("m2", "bob", "alice", T0 + 1))
    await webhook.ok(cc_message("m3", "alice", "bob", T0 + 2))
    await webhook.ok(cc_message("m2", "bob", "alice", T0 + 1))  # redelivered
    assert await unread(alice, "p2p|bob") == 2


async def test_a_late_older_message_still_counts(webhook: Webhook, alice: GraphQLClient) -> None:
    await webhook.ok(cc_message("m2", "bob", "alice", T0 + 10))
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    assert await unread(alice, "p2p|bob") == 2


async def test_mark_read_clears_the_count_and_stamps_the_time(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    clock.now = 1_790_000_600_000
    marked = (await alice.ok(MARK, ids=["p2p|bob", "p2p|nobody"]))["markSessionsRead"]
    assert marked["sessions"] == [
        {"key": "p2p|bob", "unreadCount": 0, "lastReadTime": "2026-09-21T14:23:20.000Z"}
    ]
    await webhook.ok(cc_message("m0", "bob", "alice", T0 - 5))  # older than the read mark
    assert await unread(alice, "p2p|bob") == 0
    await webhook.ok(cc_message("m2", "bob", "alice", clock.now + 1))
    assert await unread(alice, "p2p|bob") == 1


async def test_a_recall_of_an_unread_message_lowers_the_count(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    await webhook.ok(cc_message("m2", "bob", "alice", T0 + 1))
    await webhook.ok(cc_message("m3", "alice", "bob", T0 + 2))
    await webhook.ok(cc_recall("m1", "bob", "alice", T0 + 3))  # unread, not the last one
    assert await unread(alice, "p2p|bob") == 1
    await webhook.ok(cc_recall("m3", "alice", "bob", T0 + 4))  # alice's own
    assert await unread(alice, "p2p|bob") == 1


async def test_a_recall_of_a_read_message_changes_no_count(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    await alice.ok(MARK, ids=["p2p|bob"])
    await webhook.ok(cc_message("m2", "bob", "alice", T0 + 2 * 3_600_000))
    await webhook.ok(cc_recall("m1", "bob", "alice", T0 + 2 * 3_600_000 + 1))
    assert await unread(alice, "p2p|bob") == 1


async def test_a_message_recalled_before_it_arrives_is_never_unread(
    webhook: Webhook, as_user: Any
) -> None:
    await webhook.team("7", ["alice", "carol"])
    await webhook.ok(cc_recall("m1", "bob", "alice", T0 + 5))
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    await webhook.ok(cc_recall("t1", "bob", "7", T0 + 5, event_type=8))
    await webhook.ok(cc_message("t1", "bob", "7", T0, conv="TEAM"))
    assert await unread(as_user("alice"), "p2p|bob") == 0
    assert await unread(as_user("carol"), "team|7") == 0


async def test_team_messages_count_for_every_member_but_the_sender(
    webhook: Webhook, as_user: Any
) -> None:
    await webhook.team("7", ["alice", "bob", "carol"])
    await webhook.ok(cc_message("t1", "bob", "7", T0, conv="TEAM"))
    await webhook.ok(cc_message("t2", "carol", "7", T0 + 1, conv="TEAM"))
    counts = [await unread(as_user(a), "team|7") for a in ("alice", "bob", "carol")]
    assert counts == [2, 1, 1]
    await webhook.ok(cc_recall("t1", "bob", "7", T0 + 2, event_type=8))
    counts = [await unread(as_user(a), "team|7") for a in ("alice", "bob", "carol")]
    assert counts == [1, 1, 0]


async def test_mark_all_read_and_the_total(webhook: Webhook, alice: GraphQLClient) -> None:
    for n, peer in enumerate(["bob", "bob", "carol", "dave"]):
        await webhook.ok(cc_message(f"m{n}", peer, "alice", T0 + n))
    assert (await alice.ok(UNREAD, id="p2p|bob"))["totalUnreadCount"] == 4
    assert (await alice.ok(MARK_ALL))["markAllSessionsRead"] == {"totalUnreadCount": 0}
    assert (await alice.ok(UNREAD, id="p2p|carol"))["session"]["lastReadTime"] is not None


async def test_deletion_resets_the_count(webhook: Webhook, alice: GraphQLClient) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    await alice.ok('mutation { deleteSessions(input: {ids: ["p2p|bob"]}) { deletedIds } }')
    await webhook.ok(cc_message("m2", "bob", "alice", T0 + 2 * 3_600_000))
    assert await unread(alice, "p2p|bob") == 1


async def test_counts_are_exact_under_concurrent_ingestion(
    webhook: Webhook, alice: GraphQLClient, new_store: Callable[[], SessionStore]
) -> None:
    events = [cc_message(f"m{n}", f"peer{n % 4}", "alice", T0 + n) for n in range(120)]
    events += [cc_message(f"a{n}", "alice", f"peer{n % 4}", T0 + n) for n in range(40)]
    events += random.Random(3).sample(events, 60)  # redeliveries
    random.Random(4).shuffle(events)
    await asyncio.gather(*(webhook.ok(event) for event in events))
    counts = [await unread(alice, f"p2p|peer{n}") for n in range(4)]
    assert counts == [30, 30, 30, 30]

    async with new_store() as again:  # and they survive a restart
        assert await again.total_unread("alice") == 120


async def test_unread_changes_reach_the_change_feed(webhook: Webhook, alice: GraphQLClient) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    token = (await alice.ok("{ sessionChanges { syncToken } }"))["sessionChanges"]["syncToken"]
    await alice.ok(MARK, ids=["p2p|bob"])
    await alice.ok(PIN, id="p2p|bob", pinned=True)
    changes = await alice.ok(
        "query($s: String) { sessionChanges(since: $s) { changed { unreadCount pinned } } }",
        s=token,
    )
    assert changes["sessionChanges"]["changed"] == [{"unreadCount": 0, "pinned": True}]


# Pinning ----------------------------------------------------------------------------------------


async def ingest_peers(webhook: Webhook, count: int) -> None:
    for n in range(count):  # peer0 oldest ... peerN newest
        await webhook.ok(cc_message(f"m{n}", f"peer{n}", "alice", T0 + n * 1000))


async def test_pinning_does_not_change_update_time(webhook: Webhook, alice: GraphQLClient) -> None:
    await ingest_peers(webhook, 1)
    session = (await alice.ok(PIN, id="p2p|peer0", pinned=True))["pinSession"]["session"]
    assert session["pinned"] is True
    assert session["pinnedAt"] is not None
    assert session["updateTime"] == "2026-09-21T14:13:20.000Z"
    unpinned = (await alice.ok(PIN, id="p2p|peer0", pinned=False))["pinSession"]["session"]
    assert (unpinned["pinned"], unpinned["pinnedAt"]) == (False, None)


async def test_pinned_first_puts_the_most_recently_pinned_on_top(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await ingest_peers(webhook, 5)
    for peer in ("peer1", "peer3", "peer1"):  # pinning peer1 again refreshes its pin time
        clock.now += 1
        await alice.ok(PIN, id=f"p2p|{peer}", pinned=True)
    assert await keys(alice, pinnedFirst=True) == [
        "p2p|peer1", "p2p|peer3", "p2p|peer4", "p2p|peer2", "p2p|peer0",
    ]  # fmt: skip
    assert await keys(alice) == [f"p2p|peer{n}" for n in (4, 3, 2, 1, 0)]


@pytest.mark.parametrize("page_size", [1, 2, 3, 100])
async def test_cursors_stay_correct_across_the_pinned_boundary(
    webhook: Webhook, alice: GraphQLClient, clock: Clock, page_size: int
) -> None:
    await ingest_peers(webhook, 7)
    for peer in ("peer2", "peer5", "peer0"):
        clock.now += 1
        await alice.ok(PIN, id=f"p2p|{peer}", pinned=True)
    expected = ["p2p|peer0", "p2p|peer5", "p2p|peer2"] + [f"p2p|peer{n}" for n in (6, 4, 3, 1)]
    assert await walk(alice, page_size, len(expected), pinnedFirst=True) == expected


async def test_pinning_a_session_the_viewer_does_not_have_is_not_found(
    alice: GraphQLClient,
) -> None:
    result = await alice(PIN, id="p2p|ghost", pinned=True)
    assert result.codes == ["NOT_FOUND"]


# Filters ----------------------------------------------------------------------------------------


@pytest.fixture
async def mixed(webhook: Webhook, alice: GraphQLClient, clock: Clock) -> None:
    """alice: p2p|bob (read), team|1 (unread), super_team|2 (unread, pinned), p2p|carol (pinned)."""
    await webhook.team("1", ["alice"])
    await webhook.team("2", ["alice"], kind="SUPER_TEAM")
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    await webhook.ok(cc_message("m2", "bob", "1", T0 + 1, conv="TEAM"))
    await webhook.ok(cc_message("m3", "bob", "2", T0 + 2, conv="SUPER_TEAM"))
    await webhook.ok(cc_message("m4", "alice", "carol", T0 + 3))
    await alice.ok(MARK, ids=["p2p|bob"])
    await alice.ok(PIN, id="super_team|2", pinned=True)
    clock.now += 1
    await alice.ok(PIN, id="p2p|carol", pinned=True)


@pytest.mark.usefixtures("mixed")
@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"types": ["TEAM"]}, ["team|1"]),
        ({"types": ["P2P", "SUPER_TEAM"]}, ["p2p|carol", "super_team|2", "p2p|bob"]),
        ({"types": ["P2P", "TEAM", "SUPER_TEAM"]},
         ["p2p|carol", "super_team|2", "team|1", "p2p|bob"]),
        ({"onlyUnread": True}, ["super_team|2", "team|1"]),
        ({"pinned": True}, ["p2p|carol", "super_team|2"]),
        ({"pinned": False}, ["team|1", "p2p|bob"]),
        ({"pinned": True, "pinnedFirst": True}, ["p2p|carol", "super_team|2"]),
        ({"onlyUnread": True, "pinnedFirst": True}, ["super_team|2", "team|1"]),
        ({"types": ["P2P"], "pinnedFirst": True}, ["p2p|carol", "p2p|bob"]),
        ({"onlyUnread": True, "min": T0 + 2}, ["super_team|2"]),
        ({"types": ["TEAM"], "pinned": True}, []),
    ],
)  # fmt: skip
async def test_filters_select_and_count(
    alice: GraphQLClient, variables: dict[str, Any], expected: list[str]
) -> None:
    data = (await alice.ok(LIST, **variables))["sessions"]
    assert [edge["node"]["key"] for edge in data["edges"]] == expected
    assert data["totalCount"] == len(expected)
    assert await walk(alice, 1, len(expected), **variables) == expected


async def test_an_empty_type_list_is_bad_user_input(alice: GraphQLClient) -> None:
    assert (await alice(LIST, types=[])).codes == ["BAD_USER_INPUT"]
