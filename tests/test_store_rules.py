"""The store's write rules, on every backend."""

from __future__ import annotations

from collections.abc import Callable

from gateway.domain.membership import message_change
from gateway.domain.order import event_key
from gateway.domain.pages import PageQuery, Position, TimeWindow
from gateway.domain.sessions import Delivery, LastMessageKind, RevokeNotification, Session
from gateway.store import SessionStore
from tests.helpers import T0, p2p, p2p_deliveries, send, team, text_message


async def one(store: SessionStore, owner: str, key_text: str) -> Session:
    from gateway.domain.keys import SessionKey

    found = await store.get_sessions(owner, [SessionKey.parse(key_text)])
    assert len(found) == 1, f"{owner} has no live {key_text}"
    return found[0]


async def test_a_p2p_message_becomes_the_last_message_of_both_sides(store: SessionStore) -> None:
    await send(store, "m1", "alice", "bob", T0)

    mine, theirs = await one(store, "alice", "p2p|bob"), await one(store, "bob", "p2p|alice")
    for session in (mine, theirs):
        assert session.last_message_id == "m1"
        assert session.last_message_kind is LastMessageKind.MESSAGE
        assert session.update_time == T0


async def test_the_same_message_twice_changes_nothing(store: SessionStore) -> None:
    message = await send(store, "m1", "alice", "bob", T0)
    assert not await store.record_message(message, p2p_deliveries("alice", "bob"))


async def test_an_older_message_never_replaces_a_newer_one(store: SessionStore) -> None:
    await send(store, "m2", "alice", "bob", T0 + 10)
    await send(store, "m1", "bob", "alice", T0)

    session = await one(store, "alice", "p2p|bob")
    assert (session.last_message_id, session.update_time) == ("m2", T0 + 10)


async def test_equal_times_are_ordered_by_server_id(store: SessionStore) -> None:
    await send(store, "m2", "alice", "bob", T0)
    await send(store, "m1", "alice", "bob", T0)
    assert (await one(store, "bob", "p2p|alice")).last_message_id == "m2"


async def test_a_recall_of_the_last_message_turns_it_into_a_revoke_notification(
    store: SessionStore,
) -> None:
    await send(store, "m1", "alice", "bob", T0)
    revoke = RevokeNotification("m1", "alice", T0 + 500, "oops")
    assert await store.revoke_message(revoke, p2p_deliveries("alice", "bob"))

    session = await one(store, "bob", "p2p|alice")
    assert session.last_message_kind is LastMessageKind.REVOKE_NOTIFICATION
    assert session.revoke == revoke
    assert session.update_time == T0 + 500


async def test_a_recall_of_an_older_message_changes_nothing(store: SessionStore) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await send(store, "m2", "alice", "bob", T0 + 10)
    await store.revoke_message(
        RevokeNotification("m1", "alice", T0 + 20), p2p_deliveries("alice", "bob")
    )

    session = await one(store, "bob", "p2p|alice")
    assert (session.last_message_id, session.update_time) == ("m2", T0 + 10)
    assert session.last_message_kind is LastMessageKind.MESSAGE


async def test_a_recall_that_arrives_first_makes_its_message_apply_revoked(
    store: SessionStore,
) -> None:
    revoke = RevokeNotification("m1", "alice", T0 + 500)
    await store.revoke_message(revoke, p2p_deliveries("alice", "bob"))
    assert await store.get_sessions("bob", [p2p("alice")]) == []

    await send(store, "m1", "alice", "bob", T0)
    session = await one(store, "bob", "p2p|alice")
    assert session.last_message_kind is LastMessageKind.REVOKE_NOTIFICATION
    assert session.revoke == revoke
    assert session.update_time == T0 + 500


async def test_a_message_newer_than_a_revoked_last_one_brings_its_own_time(
    store: SessionStore,
) -> None:
    """The recall (at +500) came while m1 was last; m2, sent before the recall but arriving
    after it, is last now, and its time is the update time (as if they had come in time order)."""
    await send(store, "m1", "alice", "bob", T0)
    await store.revoke_message(
        RevokeNotification("m1", "alice", T0 + 500), p2p_deliveries("alice", "bob")
    )
    await send(store, "m2", "alice", "bob", T0 + 10)

    session = await one(store, "bob", "p2p|alice")
    assert (session.last_message_id, session.last_message_kind, session.update_time) == (
        "m2",
        LastMessageKind.MESSAGE,
        T0 + 10,
    )


async def test_an_update_time_that_goes_back_still_reaches_the_change_feed(
    store: SessionStore,
) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await store.revoke_message(
        RevokeNotification("m1", "alice", T0 + 500), p2p_deliveries("alice", "bob")
    )
    since = await store.sync_position("bob")
    await send(store, "m2", "alice", "bob", T0 + 10)

    [change] = (await store.changes_since("bob", since, 10)).changes
    assert change.session is not None
    assert (change.session.last_message_id, change.session.update_time) == ("m2", T0 + 10)


async def test_a_message_in_a_session_made_by_ext_gives_it_the_messages_time(
    store: SessionStore,
) -> None:
    """Whether the ext or the message came first: the list does not depend on which."""
    await store.update_ext("alice", p2p("bob"), "muted", now=T0 + 999)
    await send(store, "m1", "bob", "alice", T0)
    await send(store, "m2", "carol", "alice", T0)
    await store.update_ext("alice", p2p("carol"), "muted", now=T0 + 999)

    for peer in ("p2p|bob", "p2p|carol"):
        session = await one(store, "alice", peer)
        assert (session.server_ext, session.update_time) == ("muted", T0)


async def test_a_new_message_brings_a_deleted_session_back_fresh(store: SessionStore) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await store.update_ext("alice", p2p("bob"), "pinned", now=T0 + 1)
    assert await store.delete_sessions("alice", [p2p("bob")], now=T0 + 100) == [p2p("bob")]

    await send(store, "m2", "bob", "alice", T0 + 200)
    session = await one(store, "alice", "p2p|bob")
    assert (session.last_message_id, session.server_ext, session.update_time) == (
        "m2",
        "",
        T0 + 200,
    )


async def test_a_message_older_than_the_deletion_does_not_bring_it_back(
    store: SessionStore,
) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await store.delete_sessions("alice", [p2p("bob")], now=T0 + 100)

    await send(store, "m0", "bob", "alice", T0 + 50)  # late delivery of an older message
    assert await store.get_sessions("alice", [p2p("bob")]) == []
    assert (await one(store, "bob", "p2p|alice")).last_message_id == "m0"


async def test_after_the_purge_a_message_older_than_the_deletion_does_not_bring_it_back(
    store: SessionStore,
) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await store.delete_sessions("alice", [p2p("bob")], now=T0 + 100)
    await store.purge_tombstones(deleted_before=T0 + 101)

    await send(store, "m0", "bob", "alice", T0 + 50)  # late, and older than the deletion
    assert await store.get_sessions("alice", [p2p("bob")]) == []
    assert await store.total_unread("alice") == 0
    await send(store, "m2", "bob", "alice", T0 + 200)  # a newer one still brings it back
    assert (await one(store, "alice", "p2p|bob")).last_message_id == "m2"


async def test_after_the_purge_a_team_message_older_than_the_deletion_does_not_bring_it_back(
    store: SessionStore,
) -> None:
    await store.set_team_members(team("t1"), ["alice", "bob"], T0 - 10)
    await store.record_team_message(team("t1"), text_message("m1", "bob", T0),
                                    message_change(event_key(T0, "m1"), "bob"), T0)  # fmt: skip
    await store.delete_sessions("alice", [team("t1")], now=T0 + 100)
    await store.purge_tombstones(deleted_before=T0 + 101)

    late = [("m0", message_change(event_key(T0 + 50, "m0"), "bob")),  # to the cached members
            ("m00", message_change(event_key(T0 + 60, "m00"), "bob",
                                   listed=["alice", "bob"]))]  # fmt: skip
    for server_id, change in late:
        time = change.facts[0].key[0]
        message = text_message(server_id, "bob", time)
        await store.record_team_message(team("t1"), message, change, T0 + 300)
    assert await store.get_sessions("alice", [team("t1")]) == []
    assert await store.total_unread("alice") == 0


async def test_deleting_twice_reports_the_session_once(store: SessionStore) -> None:
    await send(store, "m1", "alice", "bob", T0)
    assert await store.delete_sessions("alice", [p2p("bob"), p2p("bob")], now=T0 + 1) == [
        p2p("bob")
    ]
    assert await store.delete_sessions("alice", [p2p("bob")], now=T0 + 2) == []


async def test_ext_on_a_missing_session_creates_it_at_now(store: SessionStore) -> None:
    session = await store.update_ext("alice", team("42"), "muted", now=T0)
    assert (session.update_time, session.server_ext, session.last_message_kind) == (
        T0,
        "muted",
        None,
    )


async def test_ext_on_an_existing_session_keeps_its_update_time(store: SessionStore) -> None:
    await send(store, "m1", "alice", "bob", T0)
    session = await store.update_ext("alice", p2p("bob"), "x", now=T0 + 999)
    assert (session.update_time, session.server_ext, session.last_message_id) == (T0, "x", "m1")


async def test_a_team_message_lands_in_every_members_session(store: SessionStore) -> None:
    members = [f"user{n}" for n in range(250)]
    message = text_message("t1", "user0", T0)
    await store.record_message(message, [Delivery(m, team("7")) for m in members])

    for member in ("user0", "user125", "user249"):
        assert (await one(store, member, "team|7")).last_message_id == "t1"


async def test_pages_follow_the_keyset(store: SessionStore) -> None:
    for n in range(5):
        await send(store, f"m{n}", "alice", f"peer{n}", T0 + n // 2)  # pairs share a time

    first = await store.list_sessions("alice", PageQuery(TimeWindow(), limit=2))
    after = Position.of(first.sessions[-1])
    rest = await store.list_sessions("alice", PageQuery(TimeWindow(), limit=10, after=after))

    keys = [str(s.key) for s in first.sessions + rest.sessions]
    assert keys == ["p2p|peer4", "p2p|peer3", "p2p|peer2", "p2p|peer1", "p2p|peer0"]
    assert first.has_more
    assert not rest.has_more


async def test_reopening_keeps_the_data(
    store: SessionStore, new_store: Callable[[], SessionStore]
) -> None:
    await send(store, "m1", "alice", "bob", T0)
    async with new_store() as again:
        found = await again.get_sessions("alice", [p2p("bob")])
    assert [s.last_message_id for s in found] == ["m1"]
