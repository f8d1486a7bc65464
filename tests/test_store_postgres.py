"""What only the PostgreSQL store has: writers that run side by side, and replicas that tell each
other whose lists changed."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping

import asyncpg
import orjson
import pytest

from gateway.domain.sync import Change
from gateway.ingest import Ingestor
from gateway.settings import Settings
from gateway.store import PostgresStore, SessionStore
from gateway.store.postgres import CHANNEL, PostgresDriver, channel_of
from tests.conftest import POSTGRES_URL, Webhook, postgres_schema
from tests.helpers import T0, cc_message, send, team, until

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
READERS = 50


async def someone_waits_on(locker: asyncpg.Connection) -> bool:
    """Whether another backend waits for a lock ``locker`` holds."""
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))"
    return bool(await locker.fetchval(waiting, locker.get_server_pid()))


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
            await until(lambda: someone_waits_on(locker))  # alice's webhook waits on her rows

            # Between bob and carol: nothing of theirs is locked, so it commits now (a write
            # that waited behind alice's would wait until the lock goes, and fail here).
            await asyncio.wait_for(webhook.ok(cc_message("b1", "bob", "carol", T0 + 2)), 1)
            assert not for_alice.done()
        await asyncio.wait_for(for_alice, 10)  # alice's rows are free again: hers commits too
    finally:
        await locker.close()


@pytest.fixture
async def one_connection(settings: Settings) -> AsyncIterator[PostgresDriver]:
    """A driver whose pool holds one connection: what a reader leaves on it, the next meets."""
    driver = PostgresDriver(
        settings.database_url, 1, statement_timeout_ms=5000, connect_retries=0,
        connect_timeout_s=10, trace=None,
    )  # fmt: skip
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()


async def test_pooled_connections_go_to_readers_in_the_order_they_asked(
    one_connection: PostgresDriver,
) -> None:
    driver = one_connection
    served: list[int] = []

    async def read(asked: int) -> None:
        async with driver.read() as db:
            served.append(asked)
            await db.fetch("SELECT 1")

    # A reader arrives at every turn of the loop while earlier ones wait for the pool's one
    # connection, as requests do under load.
    readers = []
    for asked in range(READERS):
        readers.append(asyncio.create_task(read(asked)))
        await asyncio.sleep(0)
    await asyncio.gather(*readers)
    assert served == list(range(READERS))


class Heard:
    """A replica's listener: the owners it was told of."""

    def __init__(self, watching: Collection[str] = ()) -> None:
        self.owners: set[str] = set()
        self.watching = watching

    def notify(
        self, owners: frozenset[str], changes: Mapping[str, list[Change]] | None = None
    ) -> None:
        self.owners |= owners

    def watched(self) -> Collection[str]:
        return self.watching


@pytest.fixture
async def replicas(
    new_store: Callable[[], SessionStore],
) -> AsyncIterator[tuple[SessionStore, SessionStore]]:
    async with new_store() as one, new_store() as other:
        yield one, other


async def test_a_read_cancelled_at_any_step_leaves_the_next_snapshot_read_working(
    one_connection: PostgresDriver,
) -> None:
    driver = one_connection

    async def read_a_new_statement() -> None:
        async with driver.read() as db:  # a statement asyncpg has not prepared yet
            await db.fetch(f"SELECT 1 AS fresh_{uuid.uuid4().hex}")

    for steps in range(400):  # ten times past the last step a read takes
        task = asyncio.create_task(read_a_new_statement())
        for _ in range(steps % 40):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with driver.read(snapshot=True) as db:  # on the pool's one connection
            assert await db.fetch_one("SELECT 1") is not None


async def test_another_replica_hears_every_owner_a_large_fan_out_changed(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    one, other = replicas
    heard = Heard()
    other.add_listener(heard)
    members = [f"member-{n:04}-{'x' * 40}" for n in range(2000)]  # far more than one notice holds
    await one.set_team_members(team("big"), members, T0 - 1)
    await Ingestor(one).apply_json(cc_message("t1", members[0], "big", T0, conv="TEAM"))
    await until(lambda: heard.owners >= set(members))


async def test_an_owner_too_long_to_name_wakes_every_watched_owner(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    one, other = replicas
    heard = Heard(watching={"alice"})
    other.add_listener(heard)
    await send(one, "m1", "x" * 9000, "bob", T0)
    await until(lambda: heard.owners == {"alice"})


async def test_gateways_in_other_schemas_are_not_woken(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    one, same_schema = replicas
    alice = f"alice-{uuid.uuid4().hex[:8]}"  # a name no other test (or suite) writes
    heard_here, heard_there = Heard(watching={alice}), Heard(watching={alice})
    same_schema.add_listener(heard_here)
    async with postgres_schema(POSTGRES_URL) as url, PostgresStore(url) as other_schema:
        other_schema.add_listener(heard_there)
        await send(one, "m1", "bob", alice, T0)
        await until(lambda: alice in heard_here.owners)
        await asyncio.sleep(0.2)  # the other schema's notice would have come by now
        assert alice not in heard_there.owners


async def test_a_replica_of_a_release_before_per_schema_channels_is_heard(
    replicas: tuple[SessionStore, SessionStore],
) -> None:
    _, replica = replicas
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    heard = Heard(watching={alice})
    replica.add_listener(heard)
    notice = orjson.dumps({"replica": "an-older-replica", "owners": [alice]}).decode()
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute("SELECT pg_notify($1, $2)", CHANNEL, notice)
    finally:
        await admin.close()
    await until(lambda: alice in heard.owners)


@pytest.mark.parametrize(
    ("schema", "channel"),
    [
        (None, "gateway_sessions"),
        ("public", "gateway_sessions"),
        ("tenant_a", "gateway_sessions.tenant_a"),
    ],
)
def test_each_schema_has_a_channel_of_its_own(
    database_url: str, schema: str | None, channel: str
) -> None:
    del database_url  # the module's: a PostgreSQL store's rule
    assert channel_of(schema) == channel


def test_a_long_schemas_channel_fits_postgresqls_names(database_url: str) -> None:
    del database_url  # the module's: a PostgreSQL store's rule
    long_names = ["s" * 63, "s" * 62 + "x", "数据" * 20]
    channels = {channel_of(name) for name in long_names}
    assert len(channels) == len(long_names)
    assert all(len(c.encode()) <= 63 for c in channels)


async def test_fan_outs_to_teams_that_share_members_never_deadlock(
    replicas: tuple[SessionStore, SessionStore], caplog: pytest.LogCaptureFixture
) -> None:
    one, other = replicas
    members = [f"m{n:02}" for n in range(40)]
    await one.set_team_members(team("1"), members, T0 - 1)
    await one.set_team_members(team("2"), members[::-1], T0 - 1)
    writes: list[Awaitable[object]] = []
    for n in range(20):
        for tid, store in (("1", one), ("2", other)):
            body = cc_message(f"t{tid}-{n}", members[n], tid, T0 + n, conv="TEAM")
            writes.append(Ingestor(store).apply_json(body))
        writes.append(send(one, f"p{n}", members[-1 - n], members[n], T0 + n))
    with caplog.at_level(logging.WARNING, "gateway.store"):
        await asyncio.gather(*writes)
    assert [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()] == []
    for member in members:
        found = await other.get_sessions(member, [team("1"), team("2")])
        assert sorted(s.last_message_id or "" for s in found) == ["t1-19", "t2-19"], member


async def test_a_replica_whose_listen_connection_drops_listens_again_and_catches_up(
    settings: Settings, new_store: Callable[[], SessionStore]
) -> None:
    # A name of our own tells this replica's LISTEN backend from other tests' and runs'.
    name = f"listener-test-{uuid.uuid4().hex[:8]}"
    url = f"{settings.database_url}&application_name={name}"
    listening = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'"
    )
    admin = await asyncpg.connect(settings.database_url)
    try:
        async with PostgresStore(url, pool_size=2) as one, new_store() as other:
            heard = Heard(watching={"alice"})
            one.add_listener(heard)
            await until(lambda: _pids(admin, listening, name))
            (lost,) = await admin.fetch(listening, name)
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", lost["pid"])

            # A new LISTEN connection; while there was none, a change could pass unheard,
            # so every watched owner is woken to catch up.
            await until(lambda: _pids(admin, listening, name, other_than=lost["pid"]))
            await until(lambda: heard.owners == {"alice"})

            heard.owners.clear()
            await send(other, "m1", "bob", "carol", T0)  # heard again: carol is named
            await until(lambda: "carol" in heard.owners)
    finally:
        await admin.close()


async def _pids(admin: asyncpg.Connection, query: str, name: str, other_than: int = 0) -> bool:
    return any(r["pid"] != other_than for r in await admin.fetch(query, name))
