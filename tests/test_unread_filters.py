"""Do-not-disturb and unread counts by filter (NIM V2): a muted session keeps counting, totals
leave it out unless asked; counts and read marks by types and by group; a filter's count live."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock, Webhook
from tests.helpers import T0, GraphQLClient, bearer_token, cc_message, until, waiting
from tests.ws import GraphQLSocket, served

MUTE = """mutation($ids: [ID!]!, $muted: Boolean!) {
  muteSessions(input: {ids: $ids, muted: $muted}) { sessions { key muted unreadCount } } }"""
TOTALS = "{ totalUnreadCount all: totalUnreadCount(includeMuted: true) }"
COUNT = """query($types: [SessionType!], $group: ID, $muted: Boolean) {
  unreadCount(filter: {types: $types, groupId: $group, includeMuted: $muted}) }"""
LIST = """query($muted: Boolean, $onlyUnread: Boolean) {
  sessions(muted: $muted, onlyUnread: $onlyUnread) { totalCount nodes { key muted } } }"""
EVERYTHING = "{ sessions { nodes { key type muted unreadCount groups { groupId } } } }"
MARK = """mutation($ids: [ID!], $types: [SessionType!], $group: ID) {
  markSessionsRead(input: {ids: $ids, types: $types, groupId: $group}) {
    sessions { key unreadCount } } }"""
CREATE = """mutation($ids: [ID!]) { createSessionGroup(input: {name: "G", sessionIds: $ids}) {
  group { id groupId } } }"""


async def inbox(webhook: Webhook) -> None:
    """alice: 2 unread from bob, 1 from carol, 3 in team 9, 1 in super team 8."""
    await webhook.team("9", ["alice", "dave"])
    await webhook.team("8", ["alice", "erin"], kind="SUPER_TEAM")
    await webhook.ok(cc_message("b1", "bob", "alice", T0))
    await webhook.ok(cc_message("b2", "bob", "alice", T0 + 1))
    await webhook.ok(cc_message("c1", "carol", "alice", T0 + 2))
    for n in range(3):
        await webhook.ok(cc_message(f"t{n}", "dave", "9", T0 + 10 + n, conv="TEAM"))
    await webhook.ok(cc_message("s1", "erin", "8", T0 + 20, conv="SUPER_TEAM"))


async def count(client: GraphQLClient, **variables: Any) -> int:
    found: int = (await client.ok(COUNT, **variables))["unreadCount"]
    return found


# Do-not-disturb ---------------------------------------------------------------------------------


async def test_a_muted_session_keeps_its_count_but_leaves_the_total(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await inbox(webhook)
    muted = await alice.ok(MUTE, ids=["p2p|bob", "team|9", "p2p|nobody"], muted=True)
    assert muted["muteSessions"]["sessions"] == [
        {"key": "p2p|bob", "muted": True, "unreadCount": 2},
        {"key": "team|9", "muted": True, "unreadCount": 3},
    ]
    assert await alice.ok(TOTALS) == {"totalUnreadCount": 2, "all": 7}
    await webhook.ok(cc_message("b3", "bob", "alice", T0 + 30))  # still counts, muted
    assert await alice.ok(TOTALS) == {"totalUnreadCount": 2, "all": 8}
    await alice.ok(MUTE, ids=["p2p|bob"], muted=False)
    assert await alice.ok(TOTALS) == {"totalUnreadCount": 5, "all": 8}


async def test_the_muted_total_equals_the_sum_by_hand(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    rng = random.Random(11)
    events = [cc_message(f"m{n}", f"peer{rng.randrange(12)}", "alice", T0 + n) for n in range(80)]
    await asyncio.gather(*(webhook.ok(event) for event in events))
    await alice.ok(MUTE, ids=[f"p2p|peer{n}" for n in range(0, 12, 3)], muted=True)
    nodes = (await alice.ok(EVERYTHING))["sessions"]["nodes"]
    by_hand = sum(n["unreadCount"] for n in nodes if not n["muted"])
    everything = sum(n["unreadCount"] for n in nodes)
    assert by_hand < everything
    assert await alice.ok(TOTALS) == {"totalUnreadCount": by_hand, "all": everything}
    assert await count(alice) == by_hand
    assert await count(alice, muted=True) == everything


async def test_sessions_filter_by_muted(webhook: Webhook, alice: GraphQLClient) -> None:
    await inbox(webhook)
    await alice.ok(MUTE, ids=["p2p|bob", "team|9"], muted=True)
    on = (await alice.ok(LIST, muted=True))["sessions"]
    assert (on["totalCount"], [n["key"] for n in on["nodes"]]) == (2, ["team|9", "p2p|bob"])
    off = (await alice.ok(LIST, muted=False, onlyUnread=True))["sessions"]
    assert [n["key"] for n in off["nodes"]] == ["super_team|8", "p2p|carol"]


async def test_a_muted_session_stays_muted_when_deleted_and_back(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await inbox(webhook)
    await alice.ok(MUTE, ids=["p2p|bob"], muted=True)
    await alice.ok('mutation { deleteSessions(input: {ids: ["p2p|bob"]}) { deletedIds } }')
    await webhook.ok(cc_message("b9", "bob", "alice", clock.now + 1))
    back = await alice.ok('{ session(id: "p2p|bob") { muted unreadCount } }')
    assert back["session"] == {"muted": True, "unreadCount": 1}
    assert await alice.ok(TOTALS) == {"totalUnreadCount": 5, "all": 6}


async def test_muting_reaches_the_change_feed_once(webhook: Webhook, alice: GraphQLClient) -> None:
    await inbox(webhook)
    token = (await alice.ok("{ sessionChanges { syncToken } }"))["sessionChanges"]["syncToken"]
    await alice.ok(MUTE, ids=["p2p|bob"], muted=True)
    await alice.ok(MUTE, ids=["p2p|bob"], muted=True)  # no change: nothing written
    changes = await alice.ok(
        "query($s: String) { sessionChanges(since: $s) { changed { key muted } } }", s=token
    )
    assert changes["sessionChanges"]["changed"] == [{"key": "p2p|bob", "muted": True}]


# Unread counts and read marks by filter ---------------------------------------------------------


async def test_unread_count_by_types_and_group(webhook: Webhook, alice: GraphQLClient) -> None:
    await inbox(webhook)
    assert await count(alice, types=["P2P"]) == 3
    assert await count(alice, types=["TEAM", "SUPER_TEAM"]) == 4
    group = (await alice.ok(CREATE, ids=["p2p|carol", "team|9"]))["createSessionGroup"]["group"]
    assert await count(alice, group=group["id"]) == 4
    assert await count(alice, group=group["groupId"], types=["TEAM"]) == 3
    await alice.ok(MUTE, ids=["team|9"], muted=True)
    assert await count(alice, group=group["id"]) == 1
    assert await count(alice, group=group["id"], muted=True) == 4


async def test_mark_read_by_types(webhook: Webhook, alice: GraphQLClient) -> None:
    await inbox(webhook)
    marked = await alice.ok(MARK, types=["TEAM", "SUPER_TEAM"])
    assert sorted(s["key"] for s in marked["markSessionsRead"]["sessions"]) == [
        "super_team|8", "team|9"
    ]  # fmt: skip
    assert await alice.ok(TOTALS) == {"totalUnreadCount": 3, "all": 3}


async def test_mark_read_by_group(webhook: Webhook, alice: GraphQLClient) -> None:
    await inbox(webhook)
    group = (await alice.ok(CREATE, ids=["p2p|bob", "team|9"]))["createSessionGroup"]["group"]
    marked = await alice.ok(MARK, group=group["id"])
    assert sorted(s["key"] for s in marked["markSessionsRead"]["sessions"]) == [
        "p2p|bob", "team|9"
    ]  # fmt: skip
    assert await alice.ok(TOTALS) == {"totalUnreadCount": 2, "all": 2}


async def test_mark_read_takes_exactly_one_way(alice: GraphQLClient) -> None:
    assert (await alice(MARK)).codes == ["BAD_USER_INPUT"]
    assert (await alice(MARK, ids=["p2p|bob"], types=["P2P"])).codes == ["BAD_USER_INPUT"]


async def test_a_filters_subscription_sees_each_change_once_and_nothing_outside_it(
    settings: Settings, store: SessionStore, clock: Clock, webhook: Webhook, alice: GraphQLClient
) -> None:
    await inbox(webhook)
    app = create_app(settings, store=store, clock=clock)
    async with served(app) as url:
        device = await GraphQLSocket.connect(url, bearer_token("alice"))
        await device.subscribe("subscription { unreadCount(filter: {types: [TEAM]}) }")
        assert (await device.next_data())["unreadCount"] == 3
        await until(lambda: waiting(store, "alice"))
        # Outside the filter: P2P and super team messages, a mute of a P2P session.
        await webhook.ok(cc_message("b9", "bob", "alice", T0 + 40))
        await webhook.ok(cc_message("s9", "erin", "8", T0 + 41, conv="SUPER_TEAM"))
        await alice.ok(MUTE, ids=["p2p|carol"], muted=True)
        # Inside it: a team message, then a read mark.
        await webhook.ok(cc_message("t9", "dave", "9", T0 + 42, conv="TEAM"))
        assert (await device.next_data())["unreadCount"] == 4
        await alice.ok(MARK, types=["TEAM"])
        assert (await device.next_data())["unreadCount"] == 0
        # Muting the team leaves the muted out: its count is 0 already, so nothing is sent;
        # the next team message then counts only with muted sessions included.
        await alice.ok(MUTE, ids=["team|9"], muted=True)
        await webhook.ok(cc_message("t10", "dave", "9", clock.now + 1, conv="TEAM"))
        await alice.ok(MUTE, ids=["team|9"], muted=False)
        assert (await device.next_data())["unreadCount"] == 1
        await device.close()
