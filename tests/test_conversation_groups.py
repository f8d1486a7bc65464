"""Conversation groups (NIM V2's 会话分组): an owner's folders of sessions, their limits, a page
of one group, and group changes in the change feed and live."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from gateway.store import SessionStore, SqliteStore
from gateway.web.app import create_app
from tests.conftest import Clock, Webhook
from tests.helpers import T0, GraphQLClient, bearer_token, bounded_pages, cc_message, send, waiting
from tests.ws import GraphQLSocket, served

CREATE = """mutation($name: String!, $ext: String, $ids: [ID!]) {
  createSessionGroup(input: {name: $name, serverExt: $ext, sessionIds: $ids}) {
    group { id groupId name serverExt createTime updateTime } } }"""
UPDATE = """mutation($id: ID!, $name: String, $ext: String) {
  updateSessionGroup(input: {id: $id, name: $name, serverExt: $ext}) {
    group { id name serverExt updateTime } } }"""
DELETE = "mutation($id: ID!) { deleteSessionGroup(input: {id: $id}) { deletedId } }"
ADD = """mutation($group: ID!, $ids: [ID!]!) {
  addSessionsToGroup(input: {groupId: $group, sessionIds: $ids}) {
    group { name } sessions { key groups { name } } } }"""
REMOVE = """mutation($group: ID!, $ids: [ID!]!) {
  removeSessionsFromGroup(input: {groupId: $group, sessionIds: $ids}) { removedKeys } }"""
GROUPS = "{ sessionGroups { id groupId name serverExt } }"
GROUP_PAGE = """query($group: ID, $first: Int, $after: String, $types: [SessionType!],
                     $onlyUnread: Boolean, $pinnedFirst: Boolean) {
  sessions(groupId: $group, first: $first, after: $after, types: $types, onlyUnread: $onlyUnread,
           pinnedFirst: $pinnedFirst) {
    totalCount nodes { key } pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
WHOLE_LIST = """{ sessions(first: 100) { nodes { key unreadCount type pinned
  groups { groupId } } } }"""


async def create(client: GraphQLClient, name: str, ids: list[str] | None = None) -> str:
    data = await client.ok(CREATE, name=name, ids=ids)
    group_id: str = data["createSessionGroup"]["group"]["id"]
    return group_id


async def peers(webhook: Webhook, count: int, to: str = "alice") -> None:
    for n in range(count):
        await webhook.ok(cc_message(f"m{n}", f"peer{n}", to, T0 + n * 1000))


async def group_keys(client: GraphQLClient, group: str, **variables: Any) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in bounded_pages(100, variables.get("first", 100)):
        page = (await client.ok(GROUP_PAGE, group=group, after=after, **variables))["sessions"]
        seen += [node["key"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("unreachable")


# Creating, changing, deleting --------------------------------------------------------------


async def test_a_group_is_created_with_its_sessions_and_listed(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await peers(webhook, 3)
    data = await alice.ok(CREATE, name="Work", ext='{"color":"red"}',
                          ids=["p2p|peer0", "p2p|peer2", "p2p|nobody"])  # fmt: skip
    group = data["createSessionGroup"]["group"]
    assert (group["name"], group["serverExt"]) == ("Work", '{"color":"red"}')
    assert group["createTime"] == group["updateTime"]
    assert await group_keys(alice, group["id"]) == ["p2p|peer2", "p2p|peer0"]
    assert (await alice.ok(GROUPS))["sessionGroups"] == [
        {"id": group["id"], "groupId": group["groupId"], "name": "Work",
         "serverExt": '{"color":"red"}'}
    ]  # fmt: skip
    one = await alice.ok("query($id: ID!) { sessionGroup(id: $id) { name } }",
                         id=group["groupId"])  # fmt: skip
    assert one["sessionGroup"] == {"name": "Work"}


async def test_groups_are_the_viewers_own(webhook: Webhook, alice: GraphQLClient,
                                          bob: GraphQLClient) -> None:  # fmt: skip
    await peers(webhook, 1)
    group = await create(alice, "Work", ["p2p|peer0"])
    assert (await bob.ok(GROUPS))["sessionGroups"] == []
    assert (await bob.ok("query($id: ID!) { sessionGroup(id: $id) { name } }",
                         id=group))["sessionGroup"] is None  # fmt: skip
    refused = await bob(ADD, group=group, ids=["p2p|alice"])
    assert refused.codes == ["NOT_FOUND"]


async def test_renaming_changes_only_what_is_given(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    data = await alice.ok(CREATE, name="Work", ext="e1")
    group = data["createSessionGroup"]["group"]["id"]
    clock.now += 1000
    renamed = (await alice.ok(UPDATE, id=group, name="Office"))["updateSessionGroup"]["group"]
    assert (renamed["name"], renamed["serverExt"]) == ("Office", "e1")
    changed = (await alice.ok(UPDATE, id=group, ext="e2"))["updateSessionGroup"]["group"]
    assert (changed["name"], changed["serverExt"]) == ("Office", "e2")
    assert changed["updateTime"] != data["createSessionGroup"]["group"]["updateTime"]


async def test_bad_names_and_exts_are_refused(alice: GraphQLClient) -> None:
    assert (await alice(CREATE, name=" ")).codes == ["BAD_USER_INPUT"]
    assert (await alice(CREATE, name="x" * 65)).codes == ["BAD_USER_INPUT"]
    assert (await alice(CREATE, name="ok", ext="x" * 1025)).codes == ["BAD_USER_INPUT"]


async def test_deleting_a_group_leaves_its_sessions_in_the_list(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await peers(webhook, 2)
    group = await create(alice, "Work", ["p2p|peer0", "p2p|peer1"])
    deleted = await alice.ok(DELETE, id=group)
    assert deleted["deleteSessionGroup"]["deletedId"] == group
    assert (await alice.ok(GROUPS))["sessionGroups"] == []
    nodes = (await alice.ok(WHOLE_LIST))["sessions"]["nodes"]
    assert [(n["key"], n["groups"]) for n in nodes] == [("p2p|peer1", []), ("p2p|peer0", [])]
    assert (await alice(DELETE, id=group)).codes == ["NOT_FOUND"]
    assert (await alice(GROUP_PAGE, group=group)).data["sessions"]["nodes"] == []


async def test_adding_and_removing_sessions(webhook: Webhook, alice: GraphQLClient) -> None:
    await peers(webhook, 3)
    work = await create(alice, "Work")
    added = await alice.ok(ADD, group=work, ids=["p2p|peer1", "p2p|peer0", "p2p|ghost"])
    assert [s["key"] for s in added["addSessionsToGroup"]["sessions"]] == ["p2p|peer0", "p2p|peer1"]
    again = await alice.ok(ADD, group=work, ids=["p2p|peer1", "p2p|peer2"])
    assert [s["key"] for s in again["addSessionsToGroup"]["sessions"]] == ["p2p|peer2"]
    removed = await alice.ok(REMOVE, group=work, ids=["p2p|peer1", "p2p|ghost"])
    assert removed["removeSessionsFromGroup"]["removedKeys"] == ["p2p|peer1"]
    assert await group_keys(alice, work) == ["p2p|peer2", "p2p|peer0"]
    assert (await alice(ADD, group=work, ids=[])).codes == ["BAD_USER_INPUT"]
    many = [f"p2p|x{n}" for n in range(101)]
    assert (await alice(ADD, group=work, ids=many)).codes == ["BAD_USER_INPUT"]


async def test_session_groups_lists_each_sessions_groups(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await peers(webhook, 2)
    await create(alice, "Work", ["p2p|peer0", "p2p|peer1"])
    clock.now += 1  # oldest group first
    await create(alice, "Friends", ["p2p|peer1"])
    nodes = (await alice.ok(WHOLE_LIST))["sessions"]["nodes"]
    names = {n["key"]: len(n["groups"]) for n in nodes}
    assert names == {"p2p|peer1": 2, "p2p|peer0": 1}
    one = await alice.ok('{ session(id: "p2p|peer1") { groups { name } } }')
    assert one["session"]["groups"] == [{"name": "Work"}, {"name": "Friends"}]


async def test_a_deleted_session_leaves_its_groups(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await peers(webhook, 2)
    work = await create(alice, "Work", ["p2p|peer0", "p2p|peer1"])
    await alice.ok('mutation { deleteSessions(input: {ids: ["p2p|peer0"]}) { deletedIds } }')
    assert await group_keys(alice, work) == ["p2p|peer1"]
    await webhook.ok(cc_message("later", "peer0", "alice", clock.now + 1))  # comes back
    assert await group_keys(alice, work) == ["p2p|peer1"]
    one = await alice.ok('{ session(id: "p2p|peer0") { groups { name } } }')
    assert one["session"]["groups"] == []


# Limits -----------------------------------------------------------------------------------


@pytest.fixture
def limited(app_with: Callable[..., httpx.AsyncClient]) -> Callable[[str], GraphQLClient]:
    http = app_with(groups_per_owner=2, groups_per_session=2, sessions_per_group=3)
    return lambda account: GraphQLClient(http, bearer_token(account))


async def test_groups_per_owner_are_limited(limited: Callable[[str], GraphQLClient]) -> None:
    alice = limited("alice")
    first = await create(alice, "a")
    await create(alice, "b")
    assert (await alice(CREATE, name="c")).codes == ["TOO_MANY_GROUPS"]
    await alice.ok(DELETE, id=first)  # a deleted group frees its place
    await create(alice, "c")


async def test_sessions_per_group_are_limited(
    webhook: Webhook, limited: Callable[[str], GraphQLClient]
) -> None:
    await peers(webhook, 4)
    alice = limited("alice")
    work = await create(alice, "Work", ["p2p|peer0", "p2p|peer1"])
    full = await alice(ADD, group=work, ids=["p2p|peer2", "p2p|peer3"])
    assert full.codes == ["GROUP_FULL"]
    assert await group_keys(alice, work) == ["p2p|peer1", "p2p|peer0"]  # nothing was added
    await alice.ok(ADD, group=work, ids=["p2p|peer2", "p2p|peer0"])  # peer0 is in already
    assert (await alice(CREATE, name="x", ids=[f"p2p|peer{n}" for n in range(4)])).codes == [
        "GROUP_FULL"
    ]


async def test_groups_per_session_are_limited(
    webhook: Webhook, app_with: Callable[..., httpx.AsyncClient]
) -> None:
    await peers(webhook, 2)
    alice = GraphQLClient(app_with(groups_per_session=2), bearer_token("alice"))
    await create(alice, "a", ["p2p|peer0"])
    b = await create(alice, "b", ["p2p|peer0"])
    refused = await alice(CREATE, name="c", ids=["p2p|peer1", "p2p|peer0"])
    assert refused.codes == ["TOO_MANY_GROUPS_FOR_SESSION"]
    assert len((await alice.ok(GROUPS))["sessionGroups"]) == 2  # nothing was created
    c = await create(alice, "c", ["p2p|peer1"])
    assert (await alice(ADD, group=c, ids=["p2p|peer0"])).codes == ["TOO_MANY_GROUPS_FOR_SESSION"]
    await alice.ok(REMOVE, group=b, ids=["p2p|peer0"])  # frees a place
    await alice.ok(ADD, group=c, ids=["p2p|peer0"])


def test_the_limits_default_to_nims(settings: Settings) -> None:
    limits = settings.group_limits()
    assert (limits.groups_per_owner, limits.groups_per_session,
            limits.sessions_per_group) == (100, 5, 1000)  # fmt: skip


# A page of one group -----------------------------------------------------------------------


async def test_a_group_page_equals_the_whole_list_filtered_under_concurrent_webhooks(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await peers(webhook, 30)
    chosen = [f"p2p|peer{n}" for n in range(0, 30, 2)]
    work = await create(alice, "Work", chosen)
    gid = (await alice.ok(GROUPS))["sessionGroups"][0]["groupId"]
    events = [cc_message(f"x{n}", f"peer{n % 30}", "alice", T0 + 50_000 + n * 7) for n in range(90)]
    events += [cc_message(f"y{n}", f"new{n}", "alice", T0 + 40_000 + n) for n in range(10)]
    random.Random(5).shuffle(events)
    await asyncio.gather(*(webhook.ok(event) for event in events))
    whole = (await alice.ok(WHOLE_LIST))["sessions"]["nodes"]
    by_hand = [n["key"] for n in whole if {"groupId": gid} in n["groups"]]
    assert sorted(by_hand) == sorted(chosen)
    assert await group_keys(alice, work, first=4) == by_hand
    unread_by_hand = [n["key"] for n in whole if n["key"] in by_hand and n["unreadCount"] > 0]
    assert await group_keys(alice, work, first=3, onlyUnread=True) == unread_by_hand
    total = (await alice.ok(GROUP_PAGE, group=work, first=1))["sessions"]["totalCount"]
    assert total == len(by_hand)


async def test_a_group_page_with_every_filter_and_pinned_first(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await peers(webhook, 6)
    await webhook.team("9", ["alice", "bob"])
    await webhook.ok(cc_message("t1", "bob", "9", T0 + 500, conv="TEAM"))
    work = await create(alice, "Work", ["p2p|peer1", "p2p|peer3", "p2p|peer5", "team|9"])
    await alice.ok('mutation { pinSession(input: {id: "p2p|peer1", pinned: true}) '
                   "{ session { pinned } } }")  # fmt: skip
    await alice.ok('mutation { markSessionsRead(input: {ids: ["p2p|peer3"]}) '
                   "{ sessions { key } } }")  # fmt: skip
    assert await group_keys(alice, work, types=["TEAM"]) == ["team|9"]
    assert await group_keys(alice, work, types=["TEAM", "P2P"], first=2) == [
        "p2p|peer5", "p2p|peer3", "p2p|peer1", "team|9"
    ]  # fmt: skip
    assert await group_keys(alice, work, onlyUnread=True) == ["p2p|peer5", "p2p|peer1", "team|9"]
    assert await group_keys(alice, work, pinnedFirst=True, first=1) == [
        "p2p|peer1", "p2p|peer5", "p2p|peer3", "team|9"
    ]  # fmt: skip
    page = (await alice.ok(GROUP_PAGE, group=work, first=2))["sessions"]
    later = await alice.ok(GROUP_PAGE, group=work, first=2, after=page["pageInfo"]["endCursor"])
    assert later["sessions"]["pageInfo"]["hasPreviousPage"] is True


async def test_a_group_page_walks_the_groups_own_index(sqlite_store: SqliteStore,
                                                       statements: list[str]) -> None:  # fmt: skip
    from gateway.domain.groups import GroupLimits
    from gateway.domain.pages import Filters, PageQuery, TimeWindow
    from tests.helpers import p2p

    for n in range(5):
        await send(sqlite_store, f"m{n}", f"peer{n}", "alice", T0 + n)
    await sqlite_store.create_group("alice", "g", "Work", "", [p2p("peer1"), p2p("peer3")],
                                    T0, GroupLimits())  # fmt: skip
    query = PageQuery(TimeWindow(), limit=1, filters=Filters(group_id="g"))
    statements.clear()
    page = await sqlite_store.list_sessions("alice", query)
    assert [str(s.key) for s in page.sessions] == ["p2p|peer3"]
    [statement] = [s for s in statements if "session_group_members" in s]
    plan = _plan(sqlite_store, statement)
    assert "session_group_members_by_time" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # no sort: the index gives the order


def _plan(store: SqliteStore, statement: str) -> str:
    import sqlite3

    with sqlite3.connect(store.path) as db:
        rows = db.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
    return " | ".join(str(row[-1]) for row in rows)


# Group changes in the feed and live ------------------------------------------------------------


async def test_group_changes_reach_the_change_feed(webhook: Webhook, alice: GraphQLClient) -> None:
    await peers(webhook, 2)
    token = (await alice.ok("{ sessionChanges { syncToken } }"))["sessionChanges"]["syncToken"]
    work = await create(alice, "Work", ["p2p|peer0"])
    gone = await create(alice, "Gone")
    await alice.ok(DELETE, id=gone)
    changes = await alice.ok(
        """query($s: String) { sessionChanges(since: $s) { changed { key groups { name } }
           changedGroups { id name } deletedGroupIds syncToken } }""",
        s=token,
    )
    feed = changes["sessionChanges"]
    assert feed["changed"] == [{"key": "p2p|peer0", "groups": [{"name": "Work"}]}]
    assert feed["changedGroups"] == [{"id": work, "name": "Work"}]
    assert feed["deletedGroupIds"] == [gone]


async def test_the_feed_pages_through_groups_and_sessions_of_one_version(
    store: SessionStore, webhook: Webhook, alice: GraphQLClient
) -> None:
    await peers(webhook, 3)
    since = await store.sync_position("alice")
    await create(alice, "Work", ["p2p|peer0", "p2p|peer1", "p2p|peer2"])  # one commit
    seen: list[str] = []
    position = since
    for _ in bounded_pages(4, 1):
        page = await store.changes_since("alice", position, 1)
        seen += [str(c.key) for c in page.in_feed_order()]
        position = page.position
        if not page.has_more:
            break
    assert seen[0].startswith("group|")
    assert seen[1:] == ["p2p|peer0", "p2p|peer1", "p2p|peer2"]


async def test_a_second_device_sees_group_changes_live(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    await send(store, "m1", "bob", "alice", T0)
    app = create_app(settings, store=store, clock=clock)
    async with served(app) as url:
        device = await GraphQLSocket.connect(url, bearer_token("alice"))
        await device.subscribe(
            "subscription { sessionEvents { __typename "
            "... on SessionGroupUpserted { group { name } syncToken } "
            "... on SessionGroupDeleted { groupId } "
            "... on SessionUpserted { session { key } } } }"
        )
        await _until_waiting(store)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        other = GraphQLClient(http, bearer_token("alice"))
        work = await other.ok(CREATE, name="Work", ids=["p2p|bob"])
        group = work["createSessionGroup"]["group"]
        first = (await device.next_data())["sessionEvents"]
        second = (await device.next_data())["sessionEvents"]
        await other.ok(UPDATE, id=group["id"], name="Office")
        renamed = (await device.next_data())["sessionEvents"]
        grouped = await other.ok('{ session(id: "p2p|bob") { groups { name } } }')
        await other.ok(DELETE, id=group["id"])
        deleted = (await device.next_data())["sessionEvents"]
        left = (await device.next_data())["sessionEvents"]
        ungrouped = await other.ok('{ session(id: "p2p|bob") { groups { name } } }')
        await device.close()
        await http.aclose()
    assert first["__typename"] == "SessionGroupUpserted"
    assert first["group"] == {"name": "Work"}
    assert second == {"__typename": "SessionUpserted", "session": {"key": "p2p|bob"}}
    assert grouped["session"]["groups"] == [{"name": "Office"}]
    assert renamed["group"] == {"name": "Office"}
    assert deleted == {"__typename": "SessionGroupDeleted", "groupId": group["groupId"]}
    assert left["session"] == {"key": "p2p|bob"}
    assert ungrouped["session"]["groups"] == []


async def _until_waiting(store: SessionStore) -> None:
    from tests.helpers import until

    await until(lambda: waiting(store, "alice"))
