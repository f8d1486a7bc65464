"""`sessions`: the viewer's list, newest first, in keyset pages."""

from __future__ import annotations

import pytest

from gateway.domain.sessions import RevokeNotification
from gateway.store import SessionStore
from tests.helpers import T0, GraphQLClient, bounded_pages, p2p_deliveries, send

PAGE = """
query Page($first: Int, $after: String, $min: DateTime, $max: DateTime) {
  sessions(first: $first, after: $after, minTimestamp: $min, maxTimestamp: $max) {
    edges { cursor node { key updateTime } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def keys(client: GraphQLClient, **variables: object) -> list[str]:
    data = await client.ok(PAGE, **variables)
    return [edge["node"]["key"] for edge in data["sessions"]["edges"]]


async def fill(store: SessionStore, count: int, owner: str = "alice") -> None:
    for n in range(count):
        await send(store, f"{owner}-m{n}", owner, f"peer{n:03}", T0 + n * 1000)


async def test_sessions_are_newest_first(store: SessionStore, alice: GraphQLClient) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await send(store, "m2", "carol", "alice", T0 + 5)
    await send(store, "m3", "alice", "dave", T0 + 2)
    assert await keys(alice) == ["p2p|carol", "p2p|dave", "p2p|bob"]


async def test_equal_update_times_are_ordered_by_key(
    store: SessionStore, alice: GraphQLClient
) -> None:
    for n, peer in enumerate(["bob", "dave", "carol"]):
        await send(store, f"m{n}", "alice", peer, T0)
    assert await keys(alice) == ["p2p|dave", "p2p|carol", "p2p|bob"]


async def test_update_time_is_iso_utc_with_milliseconds(
    store: SessionStore, alice: GraphQLClient
) -> None:
    await send(store, "m1", "alice", "bob", 1_790_000_000_123)
    data = await alice.ok(PAGE)
    assert data["sessions"]["edges"][0]["node"]["updateTime"] == "2026-09-21T14:13:20.123Z"


async def test_first_defaults_to_one_hundred(store: SessionStore, alice: GraphQLClient) -> None:
    await fill(store, 101)
    data = await alice.ok(PAGE)
    assert len(data["sessions"]["edges"]) == 100
    assert data["sessions"]["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_first_outside_one_to_one_hundred_is_refused(
    alice: GraphQLClient, first: int
) -> None:
    result = await alice(PAGE, first=first)
    assert result.codes == ["BAD_USER_INPUT"]
    assert "100" in result.errors[0]["message"]


async def test_has_next_page_is_exact(store: SessionStore, alice: GraphQLClient) -> None:
    await fill(store, 4)
    first = await alice.ok(PAGE, first=2)
    assert first["sessions"]["pageInfo"]["hasNextPage"] is True
    last = await alice.ok(PAGE, first=2, after=first["sessions"]["pageInfo"]["endCursor"])
    assert last["sessions"]["pageInfo"]["hasNextPage"] is False
    assert last["sessions"]["pageInfo"]["hasPreviousPage"] is True


async def test_an_empty_list_has_no_cursors(alice: GraphQLClient) -> None:
    data = await alice.ok(PAGE)
    assert data["sessions"]["edges"] == []
    assert data["sessions"]["pageInfo"] == {
        "hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None,
    }  # fmt: skip


async def test_walking_every_page_yields_each_session_once(
    store: SessionStore, alice: GraphQLClient
) -> None:
    for n in range(23):  # many share an update time, so the key breaks ties across pages
        await send(store, f"m{n}", "alice", f"peer{n:02}", T0 + n // 4)
    seen: list[str] = []
    after = None
    for _ in bounded_pages(23, 5):
        data = (await alice.ok(PAGE, first=5, after=after))["sessions"]
        seen += [edge["node"]["key"] for edge in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(f"p2p|peer{n:02}" for n in range(23))
    assert len(seen) == 23


async def test_time_bounds_are_inclusive(store: SessionStore, alice: GraphQLClient) -> None:
    await fill(store, 5)  # at T0, T0+1s, ... T0+4s
    found = await keys(alice, min="2026-09-21T14:13:21.000Z", max="2026-09-21T14:13:23.000Z")
    assert found == ["p2p|peer003", "p2p|peer002", "p2p|peer001"]


async def test_time_bounds_accept_offsets_and_epoch_milliseconds(
    store: SessionStore, alice: GraphQLClient
) -> None:
    await fill(store, 5)
    found = await keys(alice, min="2026-09-21T22:13:21+08:00", max=T0 + 3000)
    assert found == ["p2p|peer003", "p2p|peer002", "p2p|peer001"]


async def test_min_after_max_is_refused(alice: GraphQLClient) -> None:
    result = await alice(PAGE, min="2026-01-02T00:00:00Z", max="2026-01-01T00:00:00Z")
    assert result.codes == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-01-01T00:00:00", "99999-01-01T00:00:00Z", True]
)
async def test_a_bad_timestamp_is_refused(alice: GraphQLClient, value: object) -> None:
    result = await alice(PAGE, min=value)
    assert result.codes == ["BAD_USER_INPUT"]


async def test_total_count_ignores_the_cursor_but_not_the_window(
    store: SessionStore, alice: GraphQLClient
) -> None:
    await fill(store, 6)
    query = """query($after: String, $min: DateTime) {
      sessions(first: 2, after: $after, minTimestamp: $min) { totalCount pageInfo { endCursor } }
    }"""
    first = (await alice.ok(query))["sessions"]
    second = (await alice.ok(query, after=first["pageInfo"]["endCursor"]))["sessions"]
    windowed = (await alice.ok(query, min=T0 + 2000))["sessions"]
    assert (first["totalCount"], second["totalCount"], windowed["totalCount"]) == (6, 6, 4)


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "", "WzEsInAycHxib2IiXQ", "WzEsInAycHxib2IiXQ.AAAAAAAAAAAAAAAAAAAAAA", "é.é"],
)
async def test_a_garbage_cursor_is_refused(
    store: SessionStore, alice: GraphQLClient, cursor: str
) -> None:
    await fill(store, 3)
    result = await alice(PAGE, first=1, after=cursor)
    assert result.codes == ["BAD_USER_INPUT"]


async def test_a_tampered_cursor_is_refused(store: SessionStore, alice: GraphQLClient) -> None:
    import base64

    await fill(store, 3)
    cursor = (await alice.ok(PAGE, first=1))["sessions"]["pageInfo"]["endCursor"]
    body, mac = cursor.split(".")
    payload = base64.urlsafe_b64decode(body + "==").replace(b"peer002", b"peer001")
    forged = base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + mac
    assert (await alice(PAGE, first=1, after=forged)).codes == ["BAD_USER_INPUT"]


async def test_a_deep_page_is_the_same_query_as_the_first(
    store: SessionStore, alice: GraphQLClient, statements: list[str]
) -> None:
    await fill(store, 30)
    query = """query($after: String) {
      sessions(first: 10, after: $after) { edges { node { key } } pageInfo { endCursor } }
    }"""
    first = await alice.ok(query)
    statements.clear()
    await alice.ok(query, after=first["sessions"]["pageInfo"]["endCursor"])
    reads = [s for s in statements if s.lstrip().startswith("SELECT")]
    assert len(reads) == 1
    assert "OFFSET" not in reads[0].upper()
    assert "(update_time, key) <" in reads[0]


async def test_without_last_message_the_messages_are_not_read(
    store: SessionStore, alice: GraphQLClient, statements: list[str]
) -> None:
    await fill(store, 3)
    statements.clear()
    await alice.ok("{ sessions { edges { node { key lastMessageKind updateTime } } } }")
    assert statements
    assert not any("messages" in s for s in statements)


async def test_a_page_reads_its_last_messages_in_one_statement_then_from_memory(
    store: SessionStore, alice: GraphQLClient, statements: list[str]
) -> None:
    await fill(store, 7)
    page = "{ sessions { edges { node { lastMessage { serverId text } } } } }"
    statements.clear()
    data = await alice.ok(page)
    reads = [s for s in statements if s.lstrip().startswith("SELECT")]
    assert len(reads) == 2
    assert "FROM messages" in reads[1]
    ids = [edge["node"]["lastMessage"]["serverId"] for edge in data["sessions"]["edges"]]
    assert ids == [f"alice-m{n}" for n in reversed(range(7))]
    statements.clear()
    assert await alice.ok(page) == data
    assert len([s for s in statements if s.lstrip().startswith("SELECT")]) == 1


async def test_a_page_joins_only_last_messages_not_revoked_ones(
    store: SessionStore, alice: GraphQLClient
) -> None:
    await send(store, "m1", "bob", "alice", T0)
    recall = RevokeNotification("m1", "bob", T0 + 1)
    await store.revoke_message(recall, p2p_deliveries("bob", "alice"))
    await send(store, "m2", "carol", "alice", T0 + 2)
    data = await alice.ok(
        "{ sessions(pinnedFirst: true, types: [P2P, TEAM]) { edges { node { key "
        "lastMessageKind lastMessage { serverId } } } } }"
    )
    nodes = [edge["node"] for edge in data["sessions"]["edges"]]
    assert nodes == [
        {"key": "p2p|carol", "lastMessageKind": "MESSAGE", "lastMessage": {"serverId": "m2"}},
        {"key": "p2p|bob", "lastMessageKind": "REVOKE_NOTIFICATION", "lastMessage": None},
    ]


async def test_total_count_is_counted_only_when_selected(
    store: SessionStore, alice: GraphQLClient, statements: list[str]
) -> None:
    await fill(store, 3)
    statements.clear()
    await alice.ok("{ sessions { edges { cursor } } }")
    assert not any("count(" in s for s in statements)
    await alice.ok("{ sessions { totalCount } }")
    assert any("count(" in s for s in statements)
