"""What only the PostgreSQL store has: writers that run side by side."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from gateway.settings import Settings
from tests.conftest import Webhook
from tests.helpers import T0, cc_message

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


async def until_someone_waits_on(locker: asyncpg.Connection, seconds: float = 10) -> None:
    """Return once another backend waits for a lock ``locker`` holds (a deadline fails a hang)."""
    pid = locker.get_server_pid()
    deadline = asyncio.get_running_loop().time() + seconds
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))"
    while not await locker.fetchval(waiting, pid):
        assert asyncio.get_running_loop().time() < deadline, "nobody came to wait on the lock"
        await asyncio.sleep(0.01)


async def test_a_write_for_other_owners_commits_while_one_owners_rows_are_locked(
    webhook: Webhook, settings: Settings
) -> None:
    await webhook.ok(cc_message("a1", "xavier", "alice", T0))
    locker = await asyncpg.connect(settings.database_url)
    try:
        async with locker.transaction():
            await locker.execute("SELECT 1 FROM sessions WHERE owner = 'alice' FOR UPDATE")
            for_alice = asyncio.ensure_future(
                webhook.ok(cc_message("a2", "xavier", "alice", T0 + 1))
            )
            await until_someone_waits_on(locker)  # the webhook for alice waits on her rows

            # Between bob and carol: nothing of theirs is locked, so it commits now (a write
            # that waited behind alice's would wait until the lock goes, and fail here).
            await asyncio.wait_for(webhook.ok(cc_message("b1", "bob", "carol", T0 + 2)), 1)
            assert not for_alice.done()
        await asyncio.wait_for(for_alice, 10)  # alice's rows are free again: hers commits too
    finally:
        await locker.close()
