"""The embedded store: one SQLite file in WAL mode, one writer connection, a read-only pool.

Bounded reads (a page of at most 101 rows by an index, point reads by key) run on the event
loop's own thread, synchronously, on read-only stdlib ``sqlite3`` connections: such a read takes
a fraction of a millisecond (about 0.2 ms for a 21-row page with its messages, 1.1-1.4 ms for 101
rows, on a 100,000-session database on this project's 2-core machine), less than handing it to
aiosqlite's thread costs (a queue, a thread wake-up, ``call_soon_threadsafe`` and the GIL passed
back and forth with a busy loop). The trade: while it runs, nothing else on the loop does. So an
inline reader never waits: its busy timeout is 0, and a read that meets SQLITE_BUSY or SQLITE_LOCKED
(rare for a WAL reader), or runs past ``inline_steps`` virtual-machine steps (a backstop: about
seven 101-row pages), is run again on aiosqlite's thread, which may wait. Writes and unbounded
reads (counts, sums, whole lists) always run on the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TypeVar
from urllib.parse import quote

import aiosqlite
import orjson

from gateway.errors import ConfigurationError, StoreUnavailable
from gateway.store._driver import Connection, Dialect, RemoteChange
from gateway.store._messages import DEFAULT_BYTES
from gateway.store._migrations import load_migrations
from gateway.store._rows import Row
from gateway.store.sql import SqlStore

T = TypeVar("T")
Trace = Callable[[str], None]

# RETURNING a thousand rows costs SQLite a third of the statement: more than reading them back,
# unless nearly all are wanted (record_team_message to 1,000 members: 90% watched, 0.35 ms more;
# all watched, 0.1-0.3 ms less).
SQLITE = Dialect(
    greatest="max",
    elements="json_each(?)",
    returning_from=0.95,
    duplicate_key=(sqlite3.IntegrityError,),
)
# About seven 101-row pages with their messages; a bounded read takes a few thousand.
INLINE_STEPS = 50_000
_TICK = 1000  # steps between two calls of an inline reader's budget
_WAIT_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT})
_LOCKED_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
# How often the store looks whether another process committed to the file (see _watch).
REMOTE_POLL_S = 1.0


class SqliteStore(SqlStore):
    def __init__(
        self,
        path: str | Path,
        *,
        readers: int = 4,
        busy_timeout_ms: int = 5000,
        trace: Trace | None = None,
        inline_steps: int = INLINE_STEPS,
        remote_poll_s: float = REMOTE_POLL_S,
        message_cache_bytes: int = DEFAULT_BYTES,
    ) -> None:
        self.path = os.path.abspath(path)
        driver = SqliteDriver(self.path, readers, busy_timeout_ms, trace, inline_steps,
                              remote_poll_s)  # fmt: skip
        super().__init__(driver, message_cache_bytes=message_cache_bytes)


class SqliteDriver:
    dialect = SQLITE

    def __init__(
        self,
        path: str,
        readers: int,
        busy_timeout_ms: int,
        trace: Trace | None,
        inline_steps: int = INLINE_STEPS,
        remote_poll_s: float = REMOTE_POLL_S,
    ) -> None:
        self._path = path
        self._remote_poll_s = remote_poll_s
        self._changed_elsewhere: RemoteChange | None = None
        self._watching: asyncio.Task[None] | None = None
        self._reader_count = readers
        self._busy_timeout_ms = busy_timeout_ms
        self._trace = trace
        self._inline_steps = inline_steps
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        # Free inline readers; a bounded read finding none runs on the thread.
        self._inline: list[sqlite3.Connection] = []
        self._all_inline: list[sqlite3.Connection] = []

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
        for _ in range(2):  # a second one for a bounded read that begins while one is held
            inline = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            inline.execute("PRAGMA busy_timeout = 0")
            inline.execute("PRAGMA query_only = ON")
            if self._trace is not None:
                inline.set_trace_callback(self._trace)
            self._all_inline.append(inline)
            self._inline.append(inline)
        self._watching = asyncio.create_task(self._watch(writer), name="sqlite-remote-commits")

    async def close(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
            self._watching = None
        for inline in self._all_inline:
            inline.close()
        self._all_inline.clear()
        self._inline.clear()
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

    def read(
        self, *, snapshot: bool = False, bounded: bool = False
    ) -> AbstractAsyncContextManager[Connection]:
        if not bounded:
            return self._threaded_read(snapshot)
        return _InlineRead(self, snapshot)

    @asynccontextmanager
    async def _threaded_read(self, snapshot: bool) -> AsyncIterator[Connection]:
        if not self._all_readers:
            raise RuntimeError("the store is not open")
        reader = await self._readers.get()
        try:
            if not snapshot:
                yield _Connection(reader)
                return
            try:
                # A read cancelled here still runs its BEGIN (aiosqlite queued it): the COMMIT
                # below comes after it on the reader's thread, before the next read's BEGIN.
                await reader.execute("BEGIN")
                yield _Connection(reader)
            finally:
                await _end_snapshot(reader)
        finally:
            self._readers.put_nowait(reader)

    async def transaction(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        writer = self._writer
        async with self._write_lock:
            try:
                await writer.execute("BEGIN IMMEDIATE")
                try:
                    result = await work(_Connection(writer))
                except BaseException:
                    await writer.execute("ROLLBACK")
                    raise
                await writer.execute("COMMIT")
            except sqlite3.OperationalError as e:
                if e.sqlite_errorcode & 0xFF not in _LOCKED_CODES:
                    raise
                if writer.in_transaction:
                    await writer.execute("ROLLBACK")
                # Another process holds the file's write lock past the busy timeout (a backup,
                # the sqlite3 shell, `gateway import`): nothing was written; come back later.
                raise StoreUnavailable(
                    f"the SQLite file {self._path} is locked by another process: {e}"
                ) from e
            return result

    async def notify(self, db: Connection, owners: Collection[str]) -> None:
        """The store tells its own listeners; another process's commit is found by ``_watch``."""

    def on_remote_change(self, changed: RemoteChange) -> None:
        self._changed_elsewhere = changed

    async def _data_version(self, writer: aiosqlite.Connection) -> int:
        """The writer's ``PRAGMA data_version``, left out of the trace: the trace shows the
        statements that serve requests and events, not the store's own look at the file."""
        if self._trace is not None:
            await writer.set_trace_callback(_untraced)
        try:
            async with writer.execute("PRAGMA data_version") as cursor:
                row = await cursor.fetchone()
        finally:
            if self._trace is not None:
                await writer.set_trace_callback(self._trace)
        return int(row[0]) if row else 0

    async def _watch(self, writer: aiosqlite.Connection) -> None:
        """One gateway serves a SQLite file, but other processes may write it: `gateway
        dead-letters replay`, `gateway import`, the sqlite3 shell. SQLite tells no one, so the
        store asks: the writer's ``data_version`` changes when another connection (never the
        writer itself) has committed. Whose lists changed is not known, so every subscriber
        looks, within ``remote_poll_s``."""
        last: int | None = None
        while True:
            version: int | None
            try:
                async with self._write_lock:
                    version = await self._data_version(writer)
            except (sqlite3.Error, ValueError):  # busy, or closing: look again next time
                version = last
            if last is not None and version != last and self._changed_elsewhere is not None:
                self._changed_elsewhere(None)
            last = version
            await asyncio.sleep(self._remote_poll_s)


class _InlineRead:
    """A bounded read on one of the free inline readers, given back at the end, or on a thread
    when none is free (a class, not a generator: a page's read is on the hot path, and a
    generator-based context manager costs it several microseconds). Should the read move to a
    thread, that threaded read ends here too, after the inline reader's own snapshot."""

    __slots__ = ("_connection", "_driver", "_inline", "_moved", "_snapshot")

    def __init__(self, driver: SqliteDriver, snapshot: bool) -> None:
        self._driver = driver
        self._snapshot = snapshot
        self._inline: sqlite3.Connection | None = None
        self._connection: _InlineConnection | None = None
        self._moved: AbstractAsyncContextManager[Connection] | None = None

    async def __aenter__(self) -> Connection:
        driver = self._driver
        if not driver._inline:
            return await self._threaded()
        self._inline = driver._inline.pop()
        self._connection = _InlineConnection(
            self._inline, driver._inline_steps, self._snapshot, self._threaded
        )
        return self._connection

    async def _threaded(self) -> Connection:
        moved = self._driver._threaded_read(self._snapshot)
        connection = await moved.__aenter__()
        self._moved = moved
        return connection

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        inline = self._inline
        try:
            try:
                if self._connection is not None:
                    self._connection.end()
            finally:
                if self._moved is not None:
                    await self._moved.__aexit__(kind, error, trace)
        finally:
            if inline is not None:
                # Its COMMIT failed: nothing of its snapshot may reach the next read.
                if inline.in_transaction:
                    inline.rollback()
                self._driver._inline.append(inline)


class _InlineConnection:
    """Reads on the event loop's thread (see the module's docstring); on a read that would wait
    or runs too long, the rest of the read moves to a threaded reader. Within a snapshot only the
    first statement can move (WAL: once a read transaction holds its snapshot it does not meet
    BUSY); a later one past the step budget finishes inline."""

    def __init__(
        self,
        db: sqlite3.Connection,
        steps: int,
        snapshot: bool,
        threaded: Callable[[], Awaitable[Connection]],
    ) -> None:
        self._db = db
        self._budget = _Budget(db, steps)
        self._snapshot = snapshot
        self._threaded = threaded
        self._moved: Connection | None = None
        self._began = False
        self._read = False

    async def fetch(self, statement: str, *params: object) -> Sequence[Row]:
        if self._moved is not None:
            return await self._moved.fetch(statement, *params)
        db = self._db
        if self._snapshot and not self._began:
            db.execute("BEGIN")  # deferred: the first SELECT takes the snapshot
            self._began = True
        try:
            with self._budget:
                rows: list[Row] = db.execute(statement, _bindable(params)).fetchall()
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode & 0xFF not in _WAIT_CODES:
                raise
            if self._snapshot and self._read:
                return self._unbudgeted(statement, params)
            self.end()
            self._moved = await self._threaded()
            return await self._moved.fetch(statement, *params)
        self._read = True
        return rows

    async def fetch_one(self, statement: str, *params: object) -> Row | None:
        rows = await self.fetch(statement, *params)
        return rows[0] if rows else None

    async def execute(self, statement: str, *params: object) -> None:
        raise TypeError("an inline reader does not write")

    async def copy(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        raise TypeError("an inline reader does not write")

    def end(self) -> None:
        if self._began:
            self._began = False
            self._db.execute("COMMIT")

    def _unbudgeted(self, statement: str, params: tuple[object, ...]) -> list[Row]:
        rows: list[Row] = self._db.execute(statement, _bindable(params)).fetchall()
        return rows


class _Budget:
    """Interrupts a statement run within it after about ``steps`` virtual-machine steps.

    SQLite calls a progress handler every N steps a prepared statement has run over all its
    executions (its counter is not reset between them, and statements are cached), so the
    budget counts the calls itself, from zero for each statement, every ``_TICK`` steps. (Set
    once with N = the budget, it stopped one cached page read in thirty; each moved to the
    thread, where, with the loop busy, the read waits for the GIL at every row: p99 went from
    40 to 100 ms.)"""

    def __init__(self, db: sqlite3.Connection, steps: int) -> None:
        self._db = db
        self._ticks = max(1, steps // _TICK)
        self._left = self._ticks

    def __enter__(self) -> None:
        self._left = self._ticks
        self._db.set_progress_handler(self._tick, _TICK)

    def __exit__(self, *exc_info: object) -> None:
        self._db.set_progress_handler(None, 0)

    def _tick(self) -> int:
        self._left -= 1
        return self._left < 0


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

    async def copy(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        marks = ", ".join("?" * len(columns))
        await self._db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
        )


async def _end_snapshot(reader: aiosqlite.Connection) -> None:
    """Ends a threaded reader's snapshot, whatever became of its BEGIN (queued, failed, or never
    run): it goes back to the pool out of any transaction."""
    try:
        await reader.execute("COMMIT")
    except sqlite3.OperationalError:
        if reader.in_transaction:  # not "no transaction is active": a COMMIT that failed
            await reader.execute("ROLLBACK")


def _bindable(params: tuple[object, ...]) -> tuple[object, ...]:
    # A list is an array parameter: SQLite reads it with json_each (Dialect.elements).
    return tuple(orjson.dumps(p).decode() if isinstance(p, list) else p for p in params)


def _untraced(statement: str) -> None:
    """The trace while the store looks at the file for itself (``_data_version``)."""
