"""The order a write transaction locks in: its team first, then its owners' clocks, in one sorted
order (store/_write.py), whatever order the event names them in. Two writes that share owners
then never wait on each other in a cycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import pytest

from gateway.domain.membership import message_change
from gateway.domain.order import event_key
from gateway.domain.sessions import Delivery, Message, MessageType, RevokeNotification
from gateway.settings import Settings
from gateway.store import SqlStore
from gateway.store._driver import Connection, Driver
from gateway.store._rows import Row
from gateway.store._statements import Statements
from tests.drivers import DriverWrapper, driver_for
from tests.helpers import T0, p2p, team

T = TypeVar("T")
# Many accounts: the chance that a set of them iterates in sorted order by itself is nil.
MEMBERS = [f"m{n:02d}-{'xyzabc'[n % 6]}" for n in range(64)]
TEAM = team("t1")
Statement = tuple[str, tuple[object, ...]]


class Recording:
    """A connection that records every statement a transaction runs, with its parameters."""

    def __init__(self, db: Connection, log: list[Statement]) -> None:
        self._db = db
        self._log = log

    async def fetch(self, statement: str, *params: object) -> Sequence[Row]:
        self._log.append((statement, params))
        return await self._db.fetch(statement, *params)

    async def fetch_one(self, statement: str, *params: object) -> Row | None:
        self._log.append((statement, params))
        return await self._db.fetch_one(statement, *params)

    async def execute(self, statement: str, *params: object) -> None:
        self._log.append((statement, params))
        await self._db.execute(statement, *params)

    async def copy(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        self._log.append((f"COPY {table}", (list(columns), len(rows))))
        await self._db.copy(table, columns, rows)


class RecordingDriver(DriverWrapper):
    """A real driver whose write transactions are each recorded (``transactions``)."""

    def __init__(self, driver: Driver) -> None:
        super().__init__(driver)
        self.transactions: list[list[Statement]] = []

    async def transaction(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        async def recorded(db: Connection) -> T:
            log: list[Statement] = []
            self.transactions.append(log)
            return await work(Recording(db, log))

        return await self.driver.transaction(recorded)


@pytest.fixture
async def recorded(settings: Settings) -> AsyncIterator[tuple[SqlStore, RecordingDriver]]:
    recording = RecordingDriver(driver_for(settings))
    async with SqlStore(recording) as store:
        yield store, recording


def locks(transaction: list[Statement], sql: Statements) -> list[str | list[str]]:
    """What the transaction locked, in order: a team's key, or the owners of one clock lock."""
    taken: list[str | list[str]] = []
    for statement, params in transaction:
        if statement == sql.lock_team:
            taken.append(str(params[0]))
        elif statement in (sql.tick, sql.tick_quietly):
            owners = params[0]
            assert isinstance(owners, list)
            taken.append([str(owner) for owner in owners])
    return taken


def assert_team_then_sorted_owners(transaction: list[Statement], sql: Statements) -> None:
    taken = locks(transaction, sql)
    teams = [n for n, lock in enumerate(taken) if isinstance(lock, str)]
    assert teams in ([], [0]), f"a team is locked first, and once: {taken}"
    owners = [owner for lock in taken if isinstance(lock, list) for owner in lock]
    assert owners == sorted(set(owners)), f"owners are locked in sorted order: {taken}"


def message(server_id: str, sender: str, time: int) -> Message:
    return Message(server_id, sender, MessageType.TEXT, time)


async def test_every_write_locks_its_team_then_its_owners_in_sorted_order(
    recorded: tuple[SqlStore, RecordingDriver],
) -> None:
    store, driver = recorded
    reversed_members = list(reversed(MEMBERS))
    # A team message naming its members (tMembers), a registry write, a message to the cached
    # members with joins the event names, a late membership change (a rebuild), a team recall,
    # a P2P message and its recall: each names its owners out of order.
    listed = message_change(event_key(T0, "1"), MEMBERS[-1], listed=reversed_members)
    await store.record_team_message(TEAM, message("1", MEMBERS[-1], T0), listed, T0)
    await store.set_team_members(TEAM, reversed_members[:40], T0 + 1)
    joins = message_change(event_key(T0 + 2, "2"), MEMBERS[5], joins=reversed_members[40:])
    await store.record_team_message(TEAM, message("2", MEMBERS[5], T0 + 2), joins, T0 + 2)
    late = message_change(event_key(T0 - 5, "0"), MEMBERS[3], leaves=reversed_members[::3])
    await store.record_team_message(TEAM, message("0", MEMBERS[3], T0 - 5), late, T0 + 3)
    await store.revoke_message(RevokeNotification("2", MEMBERS[5], T0 + 4), team=TEAM, sent=T0 + 2)
    deliveries = [Delivery("zed", p2p("amy")), Delivery("amy", p2p("zed"))]
    await store.record_message(message("p1", "zed", T0 + 5), deliveries)
    await store.revoke_message(RevokeNotification("p1", "zed", T0 + 6), deliveries)

    sql = Statements(driver.dialect)
    written = [t for t in driver.transactions if locks(t, sql)]
    assert len(written) == 7
    for transaction in written:
        assert_team_then_sorted_owners(transaction, sql)
    # Owners were locked in bulk, not one clock at a time: the sort is what orders them.
    assert max(len(lock) for t in written for lock in locks(t, sql) if isinstance(lock, list)) > 40
