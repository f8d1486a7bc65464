"""The embedded store: one SQLite file in WAL mode, one writer connection, a read-only pool."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import aiosqlite
import orjson

from gateway.errors import ConfigurationError
from gateway.store._driver import Connection, Dialect, RemoteChange
from gateway.store._migrations import load_migrations
from gateway.store._rows import Row
from gateway.store.sql import SqlStore

T = TypeVar("T")
Trace = Callable[[str], None]

SQLITE = Dialect(greatest="max", elements="json_each(?)")


class SqliteStore(SqlStore):
    def __init__(
        self,
        path: str | Path,
        *,
        readers: int = 4,
        busy_timeout_ms: int = 5000,
        trace: Trace | None = None,
    ) -> None:
        self.path = os.path.abspath(path)
        super().__init__(SqliteDriver(self.path, readers, busy_timeout_ms, trace))


class SqliteDriver:
    dialect = SQLITE

    def __init__(self, path: str, readers: int, busy_timeout_ms: int, trace: Trace | None) -> None:
        self._path = path
        self._reader_count = readers
        self._busy_timeout_ms = busy_timeout_ms
        self._trace = trace
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []

    async def open(self) -> None:
        writer = await aiosqlite.connect(self._path, isolation_level=None)
        self._writer = writer
        await self._configure(writer)
        await writer.execute("PRAGMA journal_mode = WAL")
        # FULL: a webhook is acknowledged only once its transaction survives a power cut.
        await writer.execute("PRAGMA synchronous = FULL")
        await writer.execute("PRAGMA foreign_keys = ON")
        await self._migrate(writer)
        uri = f"file:{quote(self._path)}?mode=ro"
        for _ in range(self._reader_count):
            reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            await self._configure(reader)
            await reader.execute("PRAGMA query_only = ON")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)

    async def close(self) -> None:
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        self._readers = asyncio.Queue()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    async def _configure(self, connection: aiosqlite.Connection) -> None:
        await connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        if self._trace is not None:
            await connection.set_trace_callback(self._trace)

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        migrations = load_migrations("sqlite")
        async with db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        if current > len(migrations):
            raise ConfigurationError(
                f"{self._path} has schema version {current}, newer than this gateway knows "
                f"({len(migrations)}); upgrade the gateway"
            )
        for migration in migrations[current:]:
            script = (
                f"BEGIN IMMEDIATE;\n{migration.sql}\n"
                f"PRAGMA user_version = {migration.version};\nCOMMIT;"
            )
            try:
                await db.executescript(script)
            except sqlite3.Error:
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[Connection]:
        if not self._all_readers:
            raise RuntimeError("the store is not open")
        reader = await self._readers.get()
        try:
            if not snapshot:
                yield _Connection(reader)
                return
            await reader.execute("BEGIN")
            try:
                yield _Connection(reader)
            finally:
                await reader.execute("COMMIT")
        finally:
            self._readers.put_nowait(reader)

    async def transaction(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                result = await work(_Connection(self._writer))
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")
            return result

    async def notify(self, db: Connection, owners: Collection[str]) -> None:
        """Nobody else writes the file: the store tells its own listeners."""

    def on_remote_change(self, changed: RemoteChange) -> None:
        """There are no other processes (several need PostgreSQL)."""


class _Connection:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetch(self, statement: str, *params: object) -> Sequence[Row]:
        return list(await self._db.execute_fetchall(statement, _bindable(params)))

    async def fetch_one(self, statement: str, *params: object) -> Row | None:
        rows = await self.fetch(statement, *params)
        return rows[0] if rows else None

    async def execute(self, statement: str, *params: object) -> None:
        await self._db.execute(statement, _bindable(params))


def _bindable(params: tuple[object, ...]) -> tuple[object, ...]:
    # A list is an array parameter: SQLite reads it with json_each (Dialect.elements).
    return tuple(orjson.dumps(p).decode() if isinstance(p, list) else p for p in params)
