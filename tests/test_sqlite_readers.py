"""The SQLite store's readers go back to their pools out of any transaction, whatever ends a read:
its end, a failure, or a cancellation at any step, one read at a time or many at once."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator

import pytest

from gateway.store.sqlite import SqliteStore
from tests.helpers import T0, p2p_deliveries, text_message

READERS = 2


@pytest.fixture
async def store(tmp_path: object) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(f"{tmp_path}/readers.db", readers=READERS) as store:
        await store.record_message(text_message("m1", "alice", T0), p2p_deliveries("alice", "bob"))
        yield store


async def snapshot_read(store: SqliteStore, *, bounded: bool = False, fail: bool = False) -> int:
    async with store._driver.read(snapshot=True, bounded=bounded) as db:
        rows = await db.fetch("SELECT count(*) FROM sessions")
        if fail:
            await db.fetch("SELECT no_such_column FROM sessions")
        await db.fetch("SELECT count(*) FROM messages")
        return int(rows[0][0])


async def every_reader_reads(store: SqliteStore) -> None:
    """As many snapshot reads at once as the pools have readers (and one more), each of which
    would fail to BEGIN on a reader left inside a transaction."""
    counts = await asyncio.gather(
        *(snapshot_read(store) for _ in range(READERS + 1)),
        *(snapshot_read(store, bounded=True) for _ in range(3)),
    )
    assert counts == [2] * (READERS + 4)


@pytest.mark.parametrize("bounded", [False, True], ids=["threaded", "inline"])
async def test_a_read_cancelled_at_any_step_leaves_no_reader_in_a_transaction(
    store: SqliteStore, bounded: bool
) -> None:
    for steps in range(40):  # past the last step a read takes
        task = asyncio.create_task(snapshot_read(store, bounded=bounded))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await every_reader_reads(store)


@pytest.mark.parametrize("bounded", [False, True], ids=["threaded", "inline"])
async def test_a_read_that_fails_inside_its_snapshot_leaves_no_reader_in_a_transaction(
    store: SqliteStore, bounded: bool
) -> None:
    for _ in range(READERS + 1):
        with pytest.raises(sqlite3.OperationalError, match="no_such_column"):
            await snapshot_read(store, bounded=bounded, fail=True)
    await every_reader_reads(store)


async def test_concurrent_reads_cancelled_and_failing_at_random_never_fail_the_others(
    store: SqliteStore,
) -> None:
    chance = random.Random(28)
    for _ in range(30):
        tasks = [
            asyncio.create_task(
                snapshot_read(store, bounded=chance.random() < 0.5, fail=chance.random() < 0.2)
            )
            for _ in range(8)
        ]
        for _ in range(chance.randrange(6)):
            await asyncio.sleep(0)
        for task in chance.sample(tasks, 3):
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                assert isinstance(outcome, asyncio.CancelledError | sqlite3.OperationalError)
                assert "no_such_column" in str(outcome) or isinstance(
                    outcome, asyncio.CancelledError
                ), outcome
            else:
                assert outcome == 2
    await every_reader_reads(store)
