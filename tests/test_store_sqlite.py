"""What only the SQLite store has: its query plans and its schema version."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gateway.domain.keys import SessionType
from gateway.domain.pages import Filters, PageQuery, Position, TimeWindow
from gateway.errors import ConfigurationError
from gateway.live import ChangeNotifier, follow
from gateway.store import _lists as lists
from gateway.store import sqlite as sqlite_module
from gateway.store.sqlite import SqliteStore
from tests.helpers import T0, p2p, send, until, waiting

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


def plan_of(sqlite_store: SqliteStore, statement: tuple[str, tuple[object, ...]]) -> str:
    with sqlite3.connect(sqlite_store.path) as db:
        rows = db.execute(f"EXPLAIN QUERY PLAN {statement[0]}", statement[1])
        return " / ".join(row[3] for row in rows)


def run_counted(
    sqlite_store: SqliteStore, statement: tuple[str, tuple[object, ...]]
) -> tuple[list[tuple[object, ...]], int]:
    """The statement's rows, and the SQLite virtual-machine steps it took: a measure of work that
    does not depend on the machine."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    with sqlite3.connect(sqlite_store.path) as db:
        db.set_progress_handler(count, 1)
        rows = db.execute(*statement).fetchall()
    return rows, steps


@pytest.mark.parametrize("name", LIST_QUERIES)
async def test_every_list_read_walks_an_index_in_order(
    sqlite_store: SqliteStore, name: str
) -> None:
    query = LIST_QUERIES[name]
    statements = [
        lists.page_statement("v", query, section, 21, continued=n > 0)
        for n, section in enumerate(lists.sections(query))
    ]
    statements.append(lists.count_statement("v", query.window, query.filters))
    statements += lists.before_statements("v", query, query.after or _AFTER)
    for statement in statements:
        plan = plan_of(sqlite_store, statement)
        assert "INDEX sessions_" in plan, plan
        assert "SCAN sessions" not in plan, plan
        # Only the merge of per-type pages (a few pages of rows) may sort.
        if "UNION ALL" not in statement[0]:
            assert "TEMP B-TREE" not in plan, plan


async def test_a_deep_page_costs_what_the_first_page_costs(sqlite_store: SqliteStore) -> None:
    with sqlite3.connect(sqlite_store.path) as db:
        db.executemany(
            "INSERT INTO sessions (owner, key, update_time) VALUES ('v', ?, ?)",
            ((f"p2p|u{n:05}", T0 + n // 3) for n in range(6000)),
        )
    middle = Position(T0 + 1000, p2p("u03000"))

    def vm_steps(query: PageQuery) -> int:
        statement = lists.page_statement("v", query, lists.Section.ALL, 21)
        rows, steps = run_counted(sqlite_store, statement)
        assert len(rows) == 21
        return steps

    first = vm_steps(PageQuery(TimeWindow(), limit=20))
    deep = vm_steps(PageQuery(TimeWindow(), limit=20, after=middle))
    assert deep < first * 1.5, (first, deep)


async def test_a_page_of_muted_sessions_reads_its_own_index(sqlite_store: SqliteStore) -> None:
    """Muted sessions are few among many: their page walks an index of its own and reads the
    rows it lists, not the whole list past the unmuted ones (6,000 here, 30 muted)."""
    with sqlite3.connect(sqlite_store.path) as db:
        db.executemany(
            "INSERT INTO sessions (owner, key, update_time, muted) VALUES ('v', ?, ?, ?)",
            ((f"p2p|u{n:05}", T0 + n, int(n % 200 == 0)) for n in range(6000)),
        )
    muted = PageQuery(TimeWindow(), limit=20, filters=Filters(muted=True))
    assert lists.by_index(muted)
    statement = lists.page_statement("v", muted, lists.Section.ALL, 21)
    assert "INDEX sessions_muted_by_time" in plan_of(sqlite_store, statement)
    rows, steps = run_counted(sqlite_store, statement)
    assert len(rows) == 21
    assert all(row[-1] == 1 for row in rows)
    assert steps < 3000, steps  # a 21-row page by an index takes about a thousand


async def test_a_database_from_a_newer_gateway_is_refused(sqlite_store: SqliteStore) -> None:
    with sqlite3.connect(sqlite_store.path) as db:
        db.execute("PRAGMA user_version = 999")
    with pytest.raises(ConfigurationError, match="newer than this gateway"):
        async with SqliteStore(sqlite_store.path):
            pass


Traced = list[tuple[int, str]]


@asynccontextmanager
async def traced_store(
    path: Path, sessions: int, **options: int
) -> AsyncIterator[tuple[SqliteStore, Traced]]:
    """A store over ``sessions`` sessions of 'v' that records each statement with its thread."""
    seen: Traced = []
    async with SqliteStore(path):
        pass  # migrated
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO sessions (owner, key, update_time) VALUES ('v', ?, ?)",
            ((f"p2p|u{n:05}", T0 + n) for n in range(sessions)),
        )
    trace: Callable[[str], None] = lambda s: seen.append((threading.get_ident(), s))  # noqa: E731
    async with SqliteStore(path, readers=2, trace=trace, **options) as store:
        yield store, seen


def threads_of(seen: Traced, fragment: str) -> set[int]:
    return {thread for thread, statement in seen if fragment in statement}


async def test_a_page_is_read_on_the_event_loops_thread(tmp_path: Path) -> None:
    async with traced_store(tmp_path / "s.db", 30) as (store, seen):
        page = await store.list_sessions("v", PageQuery(TimeWindow(), limit=20))
        assert len(page.sessions) == 20
        assert threads_of(seen, "FROM sessions") == {threading.get_ident()}


async def test_a_count_is_read_on_a_thread_of_its_own(tmp_path: Path) -> None:
    async with traced_store(tmp_path / "s.db", 30) as (store, seen):
        assert await store.count_sessions("v", TimeWindow()) == 30
        [thread] = threads_of(seen, "count(*)")
        assert thread != threading.get_ident()


async def test_the_same_page_read_again_and_again_stays_on_the_loop(tmp_path: Path) -> None:
    # SQLite counts a cached statement's steps over all its runs: the budget is per run.
    async with traced_store(tmp_path / "s.db", 30) as (store, seen):
        for _ in range(200):
            await store.list_sessions("v", PageQuery(TimeWindow(), limit=20))
        assert threads_of(seen, "FROM sessions") == {threading.get_ident()}


async def test_a_read_past_the_step_budget_moves_to_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_TICK", 300)  # a budget of about 600 steps
    async with traced_store(tmp_path / "s.db", 100, inline_steps=300) as (store, seen):
        query = PageQuery(TimeWindow(), limit=100)
        page = await store.list_sessions("v", query)
        assert [s.key for s in page.sessions] == [p2p(f"u{n:05}") for n in range(99, -1, -1)]
        assert len(threads_of(seen, "FROM sessions")) == 2  # begun inline, finished threaded


async def test_reads_moved_to_a_thread_give_their_readers_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threaded readers, six reads that move to them one after another: each finds a reader
    free."""
    monkeypatch.setattr(sqlite_module, "_TICK", 300)
    async with traced_store(tmp_path / "s.db", 100, inline_steps=300) as (store, seen):
        query = PageQuery(TimeWindow(), limit=100)
        for _ in range(6):
            page = await asyncio.wait_for(store.list_sessions("v", query), 5)
            assert len(page.sessions) == 100
        moved = [
            s for thread, s in seen if thread != threading.get_ident() and "FROM sessions" in s
        ]
        assert len(moved) == 6


async def test_a_bounded_read_with_no_inline_reader_free_runs_on_a_thread(
    tmp_path: Path,
) -> None:
    async with traced_store(tmp_path / "s.db", 30) as (store, seen):
        driver = store._driver
        statement = "SELECT count(*) FROM sessions WHERE owner = ? -- the third"
        async with driver.read(bounded=True) as one, driver.read(bounded=True) as two:
            async with driver.read(bounded=True) as third:
                assert await third.fetch(statement, "v") == [(30,)]
            assert await one.fetch(statement, "v") == await two.fetch(statement, "v")
        threads = [thread for thread, s in seen if s.endswith("-- the third")]
        assert threads[0] != threading.get_ident()
        assert threads[1:] == [threading.get_ident()] * 2


async def test_a_commit_by_another_process_wakes_subscribers(tmp_path: Path) -> None:
    """`gateway dead-letters replay`, `gateway import` or any other process writing the file
    the serving gateway uses: its subscribers hear of the change (SQLite tells no one: the
    store watches the file's data version), without waiting for a change of their own."""
    path = tmp_path / "gateway.db"
    notifier = ChangeNotifier()
    async with SqliteStore(path, remote_poll_s=0.02) as store, SqliteStore(path) as elsewhere:
        store.add_listener(notifier)
        since = await store.sync_position("alice")
        events = follow(store, notifier, "alice", since, capacity=100, on_overflow=_never)
        first = asyncio.create_task(anext(events))
        await until(lambda: waiting(store, "alice"))
        await send(elsewhere, "m1", "bob", "alice", T0)  # another process's commit
        batch = await asyncio.wait_for(first, 5)
        await events.aclose()
    assert [event.session.last_message_id for event in batch] == ["m1"]  # type: ignore[union-attr]


async def test_the_stores_own_commits_do_not_wake_every_subscriber(tmp_path: Path) -> None:
    """Only another connection's commit changes the data version the store watches: its own
    writes wake their owners' subscribers alone, not everyone's."""
    woken: list[frozenset[str]] = []

    class Recorder:
        def watched(self) -> frozenset[str]:
            return frozenset({"alice", "carol"})

        def notify(self, owners: frozenset[str], *_: object) -> None:
            woken.append(owners)

    async with SqliteStore(tmp_path / "gateway.db", remote_poll_s=0.02) as store:
        store.add_listener(Recorder())
        for n in range(5):
            await send(store, f"m{n}", "bob", "alice", T0 + n)
        await asyncio.sleep(0.2)  # ten polls
    assert woken  # alice's, from the sends
    assert all("carol" not in owners for owners in woken)


async def test_the_stores_look_at_the_file_is_not_in_its_trace(tmp_path: Path) -> None:
    """The trace shows what serves requests and events (tests count a webhook's statements by
    it): the once-a-poll look at the file's data version is not among them."""
    traced: list[str] = []
    async with SqliteStore(tmp_path / "gateway.db", trace=traced.append, remote_poll_s=0.01):
        traced.clear()
        await asyncio.sleep(0.2)  # twenty looks
    assert traced == []


async def _never() -> None:
    raise AssertionError("no subscriber here falls behind")
