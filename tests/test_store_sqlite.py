"""The SQLite store's write rules and the indexes that serve its reads."""

from __future__ import annotations

import sqlite3

import pytest

from gateway.domain.keys import SessionType
from gateway.domain.pages import Filters, PageQuery, Position, TimeWindow
from gateway.domain.sessions import Delivery, LastMessageKind, RevokeNotification, Session
from gateway.errors import ConfigurationError
from gateway.store import _lists as lists
from gateway.store.sqlite import SqliteStore
from tests.helpers import T0, p2p, p2p_deliveries, send, team, text_message


async def one(store: SqliteStore, owner: str, key_text: str) -> Session:
    from gateway.domain.keys import SessionKey

    found = await store.get_sessions(owner, [SessionKey.parse(key_text)])
    assert len(found) == 1, f"{owner} has no live {key_text}"
    return found[0]


async def test_a_p2p_message_becomes_the_last_message_of_both_sides(store: SqliteStore) -> None:
    await send(store, "m1", "alice", "bob", T0)

    mine, theirs = await one(store, "alice", "p2p|bob"), await one(store, "bob", "p2p|alice")
    for session in (mine, theirs):
        assert session.last_message_id == "m1"
        assert session.last_message_kind is LastMessageKind.MESSAGE
        assert session.update_time == T0


async def test_the_same_message_twice_changes_nothing(store: SqliteStore) -> None:
    message = await send(store, "m1", "alice", "bob", T0)
    assert not await store.record_message(message, p2p_deliveries("alice", "bob"))


async def test_an_older_message_never_replaces_a_newer_one(store: SqliteStore) -> None:
    await send(store, "m2", "alice", "bob", T0 + 10)
    await send(store, "m1", "bob", "alice", T0)

    session = await one(store, "alice", "p2p|bob")
    assert (session.last_message_id, session.update_time) == ("m2", T0 + 10)


async def test_equal_times_are_ordered_by_server_id(store: SqliteStore) -> None:
    await send(store, "m2", "alice", "bob", T0)
    await send(store, "m1", "alice", "bob", T0)
    assert (await one(store, "bob", "p2p|alice")).last_message_id == "m2"


async def test_a_recall_of_the_last_message_turns_it_into_a_revoke_notification(
    store: SqliteStore,
) -> None:
    await send(store, "m1", "alice", "bob", T0)
    revoke = RevokeNotification("m1", "alice", T0 + 500, "oops")
    assert await store.revoke_message(revoke, p2p_deliveries("alice", "bob"))

    session = await one(store, "bob", "p2p|alice")
    assert session.last_message_kind is LastMessageKind.REVOKE_NOTIFICATION
    assert session.revoke == revoke
    assert session.update_time == T0 + 500


async def test_a_recall_of_an_older_message_changes_nothing(store: SqliteStore) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await send(store, "m2", "alice", "bob", T0 + 10)
    await store.revoke_message(
        RevokeNotification("m1", "alice", T0 + 20), p2p_deliveries("alice", "bob")
    )

    session = await one(store, "bob", "p2p|alice")
    assert (session.last_message_id, session.update_time) == ("m2", T0 + 10)
    assert session.last_message_kind is LastMessageKind.MESSAGE


async def test_a_recall_that_arrives_first_makes_its_message_apply_revoked(
    store: SqliteStore,
) -> None:
    revoke = RevokeNotification("m1", "alice", T0 + 500)
    await store.revoke_message(revoke, p2p_deliveries("alice", "bob"))
    assert await store.get_sessions("bob", [p2p("alice")]) == []

    await send(store, "m1", "alice", "bob", T0)
    session = await one(store, "bob", "p2p|alice")
    assert session.last_message_kind is LastMessageKind.REVOKE_NOTIFICATION
    assert session.revoke == revoke
    assert session.update_time == T0 + 500


async def test_a_new_message_brings_a_deleted_session_back_fresh(store: SqliteStore) -> None:
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


async def test_a_message_older_than_the_deletion_does_not_bring_it_back(store: SqliteStore) -> None:
    await send(store, "m1", "alice", "bob", T0)
    await store.delete_sessions("alice", [p2p("bob")], now=T0 + 100)

    await send(store, "m0", "bob", "alice", T0 + 50)  # late delivery of an older message
    assert await store.get_sessions("alice", [p2p("bob")]) == []
    assert (await one(store, "bob", "p2p|alice")).last_message_id == "m0"


async def test_deleting_twice_reports_the_session_once(store: SqliteStore) -> None:
    await send(store, "m1", "alice", "bob", T0)
    assert await store.delete_sessions("alice", [p2p("bob"), p2p("bob")], now=T0 + 1) == [
        p2p("bob")
    ]
    assert await store.delete_sessions("alice", [p2p("bob")], now=T0 + 2) == []


async def test_ext_on_a_missing_session_creates_it_at_now(store: SqliteStore) -> None:
    session = await store.update_ext("alice", team("42"), "muted", now=T0)
    assert (session.update_time, session.server_ext, session.last_message_kind) == (
        T0,
        "muted",
        None,
    )


async def test_ext_on_an_existing_session_keeps_its_update_time(store: SqliteStore) -> None:
    await send(store, "m1", "alice", "bob", T0)
    session = await store.update_ext("alice", p2p("bob"), "x", now=T0 + 999)
    assert (session.update_time, session.server_ext, session.last_message_id) == (T0, "x", "m1")


async def test_a_team_message_lands_in_every_members_session(store: SqliteStore) -> None:
    members = [f"user{n}" for n in range(250)]
    message = text_message("t1", "user0", T0)
    await store.record_message(message, [Delivery(m, team("7")) for m in members])

    for member in ("user0", "user125", "user249"):
        assert (await one(store, member, "team|7")).last_message_id == "t1"


async def test_pages_follow_the_keyset(store: SqliteStore) -> None:
    for n in range(5):
        await send(store, f"m{n}", "alice", f"peer{n}", T0 + n // 2)  # pairs share a time

    first = await store.list_sessions("alice", PageQuery(TimeWindow(), limit=2))
    after = Position.of(first.sessions[-1])
    rest = await store.list_sessions("alice", PageQuery(TimeWindow(), limit=10, after=after))

    keys = [str(s.key) for s in first.sessions + rest.sessions]
    assert keys == ["p2p|peer4", "p2p|peer3", "p2p|peer2", "p2p|peer1", "p2p|peer0"]
    assert first.has_more
    assert not rest.has_more


_AFTER = Position(T0, p2p("x"))
_PINNED_AFTER = Position(T0, p2p("x"), pinned_at=T0)
LIST_QUERIES = {
    "first page": PageQuery(TimeWindow()),
    "after a cursor": PageQuery(TimeWindow(T0, T0 + 9), after=_AFTER),
    "one type": PageQuery(TimeWindow(), filters=Filters(types=frozenset({SessionType.TEAM}))),
    "two types": PageQuery(
        TimeWindow(), after=_AFTER,
        filters=Filters(types=frozenset({SessionType.TEAM, SessionType.P2P})),
    ),
    "only unread": PageQuery(TimeWindow(), after=_AFTER, filters=Filters(only_unread=True)),
    "pinned": PageQuery(TimeWindow(), filters=Filters(pinned=True)),
    "not pinned": PageQuery(TimeWindow(), after=_AFTER, filters=Filters(pinned=False)),
    "pinned first": PageQuery(TimeWindow(), pinned_first=True, after=_PINNED_AFTER),
}  # fmt: skip


def plan_of(store: SqliteStore, statement: tuple[str, tuple[object, ...]]) -> str:
    with sqlite3.connect(store.path) as db:
        rows = db.execute(f"EXPLAIN QUERY PLAN {statement[0]}", statement[1])
        return " / ".join(row[3] for row in rows)


@pytest.mark.parametrize("name", LIST_QUERIES)
async def test_every_list_read_walks_an_index_in_order(store: SqliteStore, name: str) -> None:
    query = LIST_QUERIES[name]
    statements = [
        lists.page_statement("v", query, section, 21, continued=n > 0)
        for n, section in enumerate(lists.sections(query))
    ]
    statements.append(lists.count_statement("v", query.window, query.filters))
    statements += lists.before_statements("v", query, query.after or _AFTER)
    for statement in statements:
        plan = plan_of(store, statement)
        assert "INDEX sessions_" in plan, plan
        assert "SCAN sessions" not in plan, plan
        # Only the merge of per-type pages (a few pages of rows) may sort.
        if "UNION ALL" not in statement[0]:
            assert "TEMP B-TREE" not in plan, plan


async def test_a_deep_page_costs_what_the_first_page_costs(store: SqliteStore) -> None:
    with sqlite3.connect(store.path) as db:
        db.executemany(
            "INSERT INTO sessions (owner, key, update_time) VALUES ('v', ?, ?)",
            ((f"p2p|u{n:05}", T0 + n // 3) for n in range(6000)),
        )
    middle = Position(T0 + 1000, p2p("u03000"))

    def vm_steps(query: PageQuery) -> int:
        # SQLite's virtual-machine steps: a measure of work that does not depend on the machine.
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        with sqlite3.connect(store.path) as db:
            db.set_progress_handler(count, 1)
            rows = db.execute(*lists.page_statement("v", query, lists.Section.ALL, 21)).fetchall()
        assert len(rows) == 21
        return steps

    first = vm_steps(PageQuery(TimeWindow(), limit=20))
    deep = vm_steps(PageQuery(TimeWindow(), limit=20, after=middle))
    assert deep < first * 1.5, (first, deep)


async def test_a_database_from_a_newer_gateway_is_refused(store: SqliteStore) -> None:
    with sqlite3.connect(store.path) as db:
        db.execute("PRAGMA user_version = 999")
    newer = SqliteStore(store.path)
    with pytest.raises(ConfigurationError, match="newer than this gateway"):
        await newer.open()
    await newer.close()


async def test_reopening_keeps_the_data(store: SqliteStore) -> None:
    await send(store, "m1", "alice", "bob", T0)
    again = SqliteStore(store.path)
    await again.open()
    try:
        assert [s.last_message_id for s in await again.get_sessions("alice", [p2p("bob")])] == [
            "m1"
        ]
    finally:
        await again.close()
