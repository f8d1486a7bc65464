"""`sessionChanges` and `syncToken`: catching up from a token, with tombstones for deletions."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson

from gateway.store import SessionStore
from tests.conftest import Clock, Webhook
from tests.helpers import T0, GraphQLClient, bounded_pages, cc_message, cc_recall

CHANGES = """query($since: String, $first: Int) {
  sessionChanges(since: $since, first: $first) {
    changed { key serverExt lastMessageKind lastMessage { serverId } }
    deletedIds deletedKeys syncToken hasMore
  }
}"""
LIST_TOKEN = "{ sessions(first: 100) { syncToken edges { node { key } } } }"


async def changes(
    client: GraphQLClient, since: str | None, first: int | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = (await client.ok(CHANGES, since=since, first=first))["sessionChanges"]
    return result


async def test_since_null_returns_a_token_for_now(webhook: Webhook, alice: GraphQLClient) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    now = await changes(alice, None)
    assert (now["changed"], now["deletedKeys"], now["hasMore"]) == ([], [], False)
    assert (await changes(alice, now["syncToken"]))["changed"] == []


async def test_changes_after_a_token_are_current_sessions_and_tombstones(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    await webhook.ok(cc_message("m2", "carol", "alice", T0 + 1))
    token = (await changes(alice, None))["syncToken"]

    await webhook.ok(cc_message("m3", "bob", "alice", T0 + 2))
    await alice.ok(
        'mutation { updateSessionExt(input: {id: "p2p|bob", ext: "e"}) { session { key } } }'
    )
    await alice.ok('mutation { deleteSessions(input: {ids: ["p2p|carol"]}) { deletedIds } }')
    await webhook.ok(cc_message("m4", "dave", "alice", T0 + 3))
    await webhook.ok(cc_recall("m4", "dave", "alice", T0 + 4))

    delta = await changes(alice, token)
    bob = {"key": "p2p|bob", "serverExt": "e", "lastMessageKind": "MESSAGE",
           "lastMessage": {"serverId": "m3"}}  # fmt: skip
    dave = {"key": "p2p|dave", "serverExt": "", "lastMessageKind": "REVOKE_NOTIFICATION",
            "lastMessage": None}  # fmt: skip
    assert delta["changed"] == [bob, dave]
    assert delta["deletedKeys"] == ["p2p|carol"]
    assert len(delta["deletedIds"]) == 1
    assert delta["hasMore"] is False
    assert (await changes(alice, delta["syncToken"]))["changed"] == []


async def test_pages_of_changes_follow_the_token(webhook: Webhook, alice: GraphQLClient) -> None:
    token = (await changes(alice, None))["syncToken"]
    for n in range(7):
        await webhook.ok(cc_message(f"m{n}", f"peer{n}", "alice", T0 + n))
    await alice.ok(
        'mutation { deleteSessions(input: {ids: ["p2p|peer0", "p2p|peer1", "p2p|peer2"]}) '
        "{ deletedIds } }"
    )
    seen: list[str] = []
    deleted: list[str] = []
    pages = 0
    for _ in bounded_pages(7, 2):
        page = await changes(alice, token, first=2)
        pages += 1
        seen += [s["key"] for s in page["changed"]]
        deleted += page["deletedKeys"]
        token = page["syncToken"]
        if not page["hasMore"]:
            break
    assert sorted(seen) == [f"p2p|peer{n}" for n in range(3, 7)]
    assert sorted(deleted) == ["p2p|peer0", "p2p|peer1", "p2p|peer2"]
    assert pages == 4  # 7 changes of 2 per page, one split inside the deletion


async def test_the_list_token_covers_exactly_what_came_after_the_page(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    page = (await alice.ok(LIST_TOKEN))["sessions"]
    await webhook.ok(cc_message("m2", "carol", "alice", T0 + 1))
    delta = await changes(alice, page["syncToken"])
    assert [s["key"] for s in delta["changed"]] == ["p2p|carol"]


async def test_a_viewer_sees_only_their_own_changes(
    webhook: Webhook, alice: GraphQLClient, bob: GraphQLClient
) -> None:
    token = (await changes(alice, None))["syncToken"]
    await webhook.ok(cc_message("m1", "bob", "carol", T0))
    await bob.ok(
        'mutation { updateSessionExt(input: {id: "p2p|carol", ext: "x"}) { session { key } } }'
    )
    assert (await changes(alice, token))["changed"] == []
    assert [s["key"] for s in (await changes(bob, token))["changed"]] == ["p2p|carol"]


async def test_a_malformed_token_is_bad_user_input(alice: GraphQLClient) -> None:
    for token in ("nonsense", "WyJ4Il0", "WzEsMiwzXQ", "Wy0xLG51bGxd"):
        assert (await alice(CHANGES, since=token)).codes == ["BAD_USER_INPUT"], token


async def test_a_token_older_than_purged_tombstones_is_expired(
    webhook: Webhook, alice: GraphQLClient, store: SessionStore, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    old = (await changes(alice, None))["syncToken"]
    await alice.ok('mutation { deleteSessions(input: {ids: ["p2p|bob"]}) { deletedIds } }')
    newer = (await changes(alice, None))["syncToken"]

    await store.purge_tombstones(deleted_before=clock.now + 1)
    assert (await alice(CHANGES, since=old)).codes == ["SYNC_TOKEN_EXPIRED"]
    assert (await changes(alice, newer))["changed"] == []


async def test_purging_does_not_expire_other_owners_tokens(
    webhook: Webhook, alice: GraphQLClient, bob: GraphQLClient, store: SessionStore, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "carol", "alice", T0))
    token = (await changes(bob, None))["syncToken"]
    await alice.ok('mutation { deleteSessions(input: {ids: ["p2p|carol"]}) { deletedIds } }')
    await store.purge_tombstones(deleted_before=clock.now + 1)
    assert (await changes(bob, token))["changed"] == []


async def test_a_token_moves_only_with_its_owners_list(
    webhook: Webhook, alice: GraphQLClient, bob: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "carol", "bob", T0))
    bobs = (await changes(bob, None))["syncToken"]
    bobs_list = (await bob.ok(LIST_TOKEN))["sessions"]["syncToken"]
    alices = (await changes(alice, None))["syncToken"]

    for n in range(3):  # only alice's list changes
        await webhook.ok(cc_message(f"a{n}", "dave", "alice", T0 + 1 + n))
    await alice.ok("mutation { markAllSessionsRead { totalUnreadCount } }")

    assert (await changes(bob, None))["syncToken"] == bobs
    assert (await bob.ok(LIST_TOKEN))["sessions"]["syncToken"] == bobs_list
    assert (await changes(alice, None))["syncToken"] != alices


async def test_tokens_of_accounts_without_activity_are_all_alike(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient]
) -> None:
    before = (await changes(as_user("erin"), None))["syncToken"]
    for n in range(5):
        await webhook.ok(cc_message(f"m{n}", f"peer{n}", "alice", T0 + n))
    assert (await changes(as_user("frank"), None))["syncToken"] == before


async def test_a_token_issued_before_per_owner_feeds_is_expired(alice: GraphQLClient) -> None:
    # The format of the release before: base64url of [global version, key or null].
    for payload in ([57, None], [57, "p2p|bob"]):
        old = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
        assert (await alice(CHANGES, since=old)).codes == ["SYNC_TOKEN_EXPIRED"]
