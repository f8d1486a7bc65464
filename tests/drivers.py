"""Real drivers, wrapped: a store over one of these runs on the test's real database, and the
test sees or holds back what passes between the store and its driver."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from gateway.settings import Settings
from gateway.store._driver import Connection, Dialect, Driver, RemoteChange
from gateway.store.postgres import PostgresDriver
from gateway.store.sqlite import SqliteDriver

T = TypeVar("T")


def driver_for(settings: Settings) -> Driver:
    """The driver ``open_store`` would use on the test's database (small pools)."""
    if settings.uses_postgres():
        return PostgresDriver(settings.database_url, 4, 5000, 0, 10, None)
    return SqliteDriver(settings.sqlite_path(), 2, 5000, None)


class DriverWrapper:
    """Passes everything to ``driver``; subclasses change what they need."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.dialect: Dialect = driver.dialect

    async def open(self) -> None:
        await self.driver.open()

    async def close(self) -> None:
        await self.driver.close()

    def read(
        self, *, snapshot: bool = False, bounded: bool = False
    ) -> AbstractAsyncContextManager[Connection]:
        return self.driver.read(snapshot=snapshot, bounded=bounded)

    async def transaction(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        return await self.driver.transaction(work)

    async def notify(self, db: Connection, owners: Collection[str]) -> None:
        await self.driver.notify(db, owners)

    def on_remote_change(self, changed: RemoteChange) -> None:
        self.driver.on_remote_change(changed)


class Unheard(DriverWrapper):
    """A replica whose commits other processes do not hear of (yet): no NOTIFY is sent, as when
    its notice is still on the way."""

    async def notify(self, db: Connection, owners: Collection[str]) -> None:
        del db, owners
