"""The scale-out store: PostgreSQL through an asyncpg pool, for many stateless gateway replicas.

Same rules and results as the SQLite store. Writes that change sessions take the next version
from ``sync_clock_state`` first, which orders them as SQLite's single writer does; each such
commit also sends ``NOTIFY gateway_sessions`` so that other replicas wake their subscribers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from gateway.domain.keys import SessionKey
from gateway.domain.membership import TeamChange, registry_change
from gateway.domain.pages import Filters, Page, PageQuery, Position, TimeWindow
from gateway.domain.sessions import Delivery, Message, MessageType, RevokeNotification, Session
from gateway.domain.sync import Change, ChangeSet, SyncPosition
from gateway.errors import ConfigurationError
from gateway.store import _lists as lists
from gateway.store import _teams as teams
from gateway.store import postgres_sql as sql
from gateway.store._changes import ChangeLog, change_set
from gateway.store._lists import KINDS
from gateway.store._migrations import load_migrations
from gateway.store._rows import (
    Row,
    key_from_db,
    last_message_values,
    message_from_row,
    message_values,
    session_from_row,
)
from gateway.store.base import ChangeListener

logger = logging.getLogger("gateway.store")

T = TypeVar("T")
CHANNEL = "gateway_sessions"
_MIGRATION_LOCK = 7_264_001  # pg_advisory_lock key: one replica migrates at a time
_RETRYABLE = (
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    OSError,
)


Db: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"


class _Transaction:
    def __init__(self, db: Db) -> None:
        self.db = db
        self.changes = ChangeLog()
        self.version_taken: int | None = None

    async def version(self) -> int:
        if self.version_taken is None:
            self.version_taken = int(await self.db.fetchval(sql.TICK))
        return self.version_taken

    async def changing(self, statement: str, *params: object) -> None:
        """Run a statement that returns each session row it changed (RETURNING_CHANGE)."""
        self.changes.record_rows(await self.db.fetch(statement, *params))


class PostgresStore:
    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 10,
        statement_timeout_ms: int = 5000,
        connect_retries: int = 10,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._statement_timeout_ms = statement_timeout_ms
        self._connect_retries = connect_retries
        self._trace = trace
        self._pool: asyncpg.Pool | None = None
        self._listen: asyncpg.Connection | None = None
        self._listeners: list[ChangeListener] = []
        self._local_versions: deque[int] = deque(maxlen=4096)
        self._remote: asyncio.Queue[int] = asyncio.Queue()
        self._remote_task: asyncio.Task[None] | None = None
        self._seen_version = 0

    # Lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        settings = {"statement_timeout": str(self._statement_timeout_ms)}
        for attempt in range(self._connect_retries + 1):
            try:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._pool_size,
                    server_settings=settings,
                    init=self._init_connection,
                    # The store leaves no session state behind (no LISTEN, locks or SET on
                    # pooled connections), so skip asyncpg's reset round trip on release.
                    reset=_no_reset,
                )
                break
            except (OSError, asyncpg.CannotConnectNowError) as e:
                attempts = self._connect_retries + 1
                reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                if attempt + 1 == attempts:
                    raise ConfigurationError(
                        f"PostgreSQL at {_server(self._dsn)} not reachable after {attempts} "
                        f"attempts: {reason}"
                    ) from e
                pause = min(0.2 * 2**attempt, 5)
                logger.warning(
                    "PostgreSQL at %s not reachable (%s): attempt %d of %d, next in %.1f s",
                    _server(self._dsn), reason, attempt + 1, attempts, pause,
                )  # fmt: skip
                await asyncio.sleep(pause)
        async with self._connection() as db:
            await self._migrate(db)
            self._seen_version = int(await db.fetchval(sql.CLOCK))
        self._listen = await asyncpg.connect(self._dsn, server_settings=settings)
        await self._listen.add_listener(CHANNEL, self._on_notify)
        self._remote_task = asyncio.create_task(self._wake_remote())

    async def close(self) -> None:
        if self._remote_task is not None:
            self._remote_task.cancel()
            self._remote_task = None
        if self._listen is not None:
            await self._listen.close()
            self._listen = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    async def _init_connection(self, db: asyncpg.Connection) -> None:
        if self._trace is not None:
            trace = self._trace
            db.add_query_logger(lambda record: trace(record.query))

    async def _migrate(self, db: Db) -> None:
        await db.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {r[0] for r in await db.fetch("SELECT version FROM schema_migrations")}
            migrations = load_migrations("postgres")
            if applied and max(applied) > len(migrations):
                raise ConfigurationError(
                    f"the database has schema version {max(applied)}, newer than this gateway "
                    f"knows ({len(migrations)}); upgrade the gateway"
                )
            for migration in migrations:
                if migration.version in applied:
                    continue
                async with db.transaction():
                    await db.execute(migration.sql)
                    await db.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
        finally:
            await db.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Db]:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        async with self._pool.acquire() as db:
            yield db

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[_Transaction]:
        async with self._connection() as db, db.transaction():
            tx = _Transaction(db)
            yield tx
            if tx.version_taken is not None:
                # Known as ours before the notice can come back on the LISTEN connection.
                self._local_versions.append(tx.version_taken)
                await db.execute("SELECT pg_notify($1, $2)", CHANNEL, str(tx.version_taken))
        if tx.changes:
            by_owner = tx.changes.by_owner()
            for listener in self._listeners:
                listener.notify(frozenset(by_owner), by_owner)

    async def _retrying(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run a write again after a transient failure (deadlock, lost connection)."""
        for attempt in range(3):
            try:
                return await work()
            except _RETRYABLE:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    # Waking subscribers of other replicas ----------------------------------------------------

    def _on_notify(
        self,
        db: asyncpg.Connection[Any] | PoolConnectionProxy[Any],
        pid: int,
        channel: str,
        payload: object,
    ) -> None:
        del db, pid, channel
        if isinstance(payload, str) and payload.isdigit():
            version = int(payload)
            if version not in self._local_versions:
                self._remote.put_nowait(version)

    async def _wake_remote(self) -> None:
        while True:
            version = await self._remote.get()
            while not self._remote.empty():  # coalesce a burst into one look-up
                version = max(version, self._remote.get_nowait())
            if version <= self._seen_version:
                continue
            watched = sorted({o for listener in self._listeners for o in listener.watched()})
            try:
                if watched:
                    async with self._connection() as db:
                        rows = await db.fetch(sql.CHANGED_OWNERS, watched, self._seen_version)
                    owners = frozenset(str(row[0]) for row in rows)
                    for listener in self._listeners:
                        listener.notify(owners)
                self._seen_version = version
            except Exception:
                logger.exception("could not wake subscribers for a change made elsewhere")

    # Reads ---------------------------------------------------------------------------------

    async def is_empty(self) -> bool:
        async with self._connection() as db:
            return await db.fetchval(sql.ANY_SESSION) is None

    async def list_sessions(
        self, owner: str, query: PageQuery, *, with_sync_position: bool = False
    ) -> Page:
        rows: list[Any] = []
        position = None
        sections = lists.sections(query)
        async with self._connection() as db:
            # One snapshot when the page reads more than once (the token, or two parts).
            snapshot = with_sync_position or len(sections) > 1
            tx = db.transaction(isolation="repeatable_read", readonly=True)
            if snapshot:
                await tx.start()
            try:
                if with_sync_position:
                    position = SyncPosition(int(await db.fetchval(sql.CLOCK)))
                for n, section in enumerate(sections):
                    wanted = query.limit + 1 - len(rows)
                    text, params = lists.page_statement(owner, query, section, wanted,
                                                        continued=n > 0)  # fmt: skip
                    rows += await db.fetch(sql.numbered(text), *params)
                    if len(rows) > query.limit:
                        break
            finally:
                if snapshot:
                    await tx.commit()
        sessions = [session_from_row(owner, row) for row in rows]
        return Page(sessions[: query.limit], len(sessions) > query.limit, position)

    async def has_sessions_before(self, owner: str, query: PageQuery, position: Position) -> bool:
        async with self._connection() as db:
            for text, params in lists.before_statements(owner, query, position):
                if await db.fetchval(sql.numbered(text), *params) is not None:
                    return True
        return False

    async def count_sessions(
        self, owner: str, window: TimeWindow, filters: Filters | None = None
    ) -> int:
        text, params = lists.count_statement(owner, window, filters or Filters())
        async with self._connection() as db:
            return int(await db.fetchval(sql.numbered(text), *params))

    async def total_unread(self, owner: str) -> int:
        async with self._connection() as db:
            return int(await db.fetchval(sql.TOTAL_UNREAD, owner))

    async def get_sessions(self, owner: str, keys: Sequence[SessionKey]) -> list[Session]:
        async with self._connection() as db:
            rows = await db.fetch(sql.SESSIONS_BY_KEY, owner, [str(k) for k in keys])
        return [session_from_row(owner, row) for row in rows]

    async def get_messages(self, server_ids: Sequence[str]) -> Mapping[str, Message]:
        async with self._connection() as db:
            rows = await db.fetch(sql.MESSAGES_BY_ID, list(server_ids))
        messages = (message_from_row(row) for row in rows)
        return {message.server_id: message for message in messages}

    # The change feed -----------------------------------------------------------------------

    async def sync_position(self) -> SyncPosition:
        async with self._connection() as db:
            return SyncPosition(int(await db.fetchval(sql.CLOCK)))

    async def changes_since(self, owner: str, since: SyncPosition, limit: int) -> ChangeSet:
        async with self._connection() as db, db.transaction(isolation="repeatable_read",
                                                            readonly=True):  # fmt: skip
            purged = await db.fetchval(sql.PURGED_THROUGH, owner)
            if since.key is None:
                rows = await db.fetch(sql.CHANGES_AFTER_VERSION, owner, since.version, limit + 1)
            else:
                rows = await db.fetch(
                    sql.CHANGES_AFTER_KEY, owner, since.version, since.key, limit + 1
                )
        return change_set(owner, since, limit, list(rows), None if purged is None else int(purged))

    async def purge_tombstones(self, deleted_before: int) -> None:
        async with self._write() as tx:
            await tx.db.execute(sql.RECORD_PURGES, deleted_before)
            await tx.db.execute(sql.PURGE_TOMBSTONES, deleted_before)

    # Owner's writes ------------------------------------------------------------------------

    async def update_ext(self, owner: str, key: SessionKey, ext: str, now: int) -> Session:
        async def work() -> Session:
            async with self._write() as tx:
                version = await tx.version()
                row = await tx.db.fetchrow(
                    sql.UPSERT_EXT, owner, str(key), KINDS[key.type], now, ext, version
                )
                assert row is not None  # an upsert always returns its row
                session = session_from_row(owner, row)
                tx.changes.record(owner, Change(version, key, session))
            return session

        return await self._retrying(work)

    async def delete_sessions(
        self, owner: str, keys: Sequence[SessionKey], now: int
    ) -> list[SessionKey]:
        async def work() -> list[SessionKey]:
            deleted: list[SessionKey] = []
            async with self._write() as tx:
                version = await tx.version()
                for key in dict.fromkeys(keys):
                    for row in await tx.db.fetch(sql.DELETE_KEY, now, version, owner, str(key)):
                        deleted.append(key_from_db(str(row[0])))
                        tx.changes.record(owner, Change(version, deleted[-1], None))
            return deleted

        return await self._retrying(work)

    async def mark_read(self, owner: str, keys: Sequence[SessionKey], now: int) -> list[Session]:
        async def work() -> list[Session]:
            marked: list[Session] = []
            async with self._write() as tx:
                version = await tx.version()
                for key in dict.fromkeys(keys):
                    for row in await tx.db.fetch(sql.MARK_READ, owner, now, version, str(key)):
                        marked.append(session_from_row(owner, row))
                        tx.changes.record(owner, Change(version, marked[-1].key, marked[-1]))
            return marked

        return await self._retrying(work)

    async def mark_all_read(self, owner: str, now: int) -> None:
        async def work() -> None:
            async with self._write() as tx:
                await tx.changing(sql.MARK_ALL_READ, owner, now, await tx.version())

        await self._retrying(work)

    async def set_pinned(
        self, owner: str, key: SessionKey, pinned: bool, now: int
    ) -> Session | None:
        async def work() -> Session | None:
            async with self._write() as tx:
                version = await tx.version()
                pinned_at = now if pinned else None
                row = await tx.db.fetchrow(sql.PIN, owner, str(key), pinned_at, version)
                if row is None:
                    return None
                session = session_from_row(owner, row)
                tx.changes.record(owner, Change(version, key, session))
            return session

        return await self._retrying(work)

    # Ingestion writes ----------------------------------------------------------------------

    async def record_message(self, message: Message, deliveries: Sequence[Delivery]) -> bool:
        async def work() -> bool:
            async with self._write() as tx:
                revoke = await _insert_message(tx, message, None)
                if revoke is False:
                    return False
                values = last_message_values(message, revoke)
                for d in dict.fromkeys(deliveries):
                    unread = int(revoke is None and d.owner != message.from_account)
                    await _TeamTx(tx).deliver(d.owner, d.key, values, unread)
            return True

        return await self._retrying(work)

    async def record_team_message(
        self, team: SessionKey, message: Message, change: TeamChange, now: int
    ) -> bool:
        async def work() -> bool:
            async with self._write() as tx:
                revoke = await _insert_message(tx, message, team)
                if revoke is False:
                    return False
                await teams.apply_message(_TeamTx(tx), team, message, change, revoke, now)
            return True

        return await self._retrying(work)

    async def revoke_message(
        self,
        revoke: RevokeNotification,
        deliveries: Sequence[Delivery] = (),
        *,
        team: SessionKey | None = None,
        sent: int | None = None,
    ) -> bool:
        async def work() -> bool:
            async with self._write() as tx:
                await tx.version()  # first: a message and its recall serialize
                inserted = await tx.db.fetchval(
                    sql.INSERT_REVOCATION,
                    revoke.message_server_id, revoke.operator, revoke.time, revoke.postscript,
                )  # fmt: skip
                if inserted is None:
                    return False
                found = await tx.db.fetchrow(sql.FIND_SENDER, revoke.message_server_id)
                sender, sent_at, counted = None, sent, False
                if found is not None:
                    sender, sent_at = str(found[0]), int(found[1])
                    counted = teams.counts_unread(MessageType.from_nim(str(found[2])))
                team_tx = _TeamTx(tx)
                for d in deliveries:
                    await team_tx.revoke(d.owner, d.key, revoke, sender if counted else None,
                                         sent_at)  # fmt: skip
                if team is not None and sent_at is not None:
                    await teams.apply_recall(team_tx, team, revoke, sent_at,
                                             sender if counted else None)  # fmt: skip
            return True

        return await self._retrying(work)

    # Team registry -------------------------------------------------------------------------

    async def set_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        return await self._registry(team, registry_change((now, ""), replace=members), now)

    async def add_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        return await self._registry(team, registry_change((now, ""), add=members), now)

    async def remove_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        return await self._registry(team, registry_change((now, ""), remove=members), now)

    async def _registry(self, team: SessionKey, change: TeamChange, now: int) -> int:
        async def work() -> int:
            async with self._write() as tx:
                await tx.version()  # serializes with every other write, as SQLite's writer does
                return await teams.apply_registry(_TeamTx(tx), team, change, now)

        return await self._retrying(work)

    async def team_members(self, team: SessionKey) -> list[str]:
        async with self._connection() as db:
            rows = await db.fetch(sql.TEAM_MEMBERS, str(team))
        return [str(row[0]) for row in rows]


async def _no_reset(db: asyncpg.Connection[Any]) -> None:
    del db


async def _insert_message(
    tx: _Transaction, message: Message, team: SessionKey | None
) -> RevokeNotification | Literal[False] | None:
    """Insert a message once: False when it was seen before, else the recall that came first."""
    # The version first: a recall of this message now waits for this transaction, or this one
    # sees the recall.
    await tx.version()
    params = (*message_values(message), None if team is None else str(team))
    if await tx.db.fetchval(sql.INSERT_MESSAGE, *params) is None:
        return False
    found = await tx.db.fetchrow(sql.FIND_REVOCATION, message.server_id)
    if found is None:
        return None
    return RevokeNotification(message.server_id, found[0], found[1], found[2])


class _TeamTx:
    """A write transaction as the shared team rules (store/_teams.py) use it."""

    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx

    async def rows(self, statement: str, *params: object) -> Sequence[Row]:
        return await self._tx.db.fetch(_numbered(statement), *params)

    async def changing(self, statement: str, *params: object) -> None:
        await self._tx.changing(_numbered(statement), *params)

    async def version(self) -> int:
        return await self._tx.version()

    async def deliver(
        self, owner: str, key: SessionKey, values: tuple[object, ...], unread: int
    ) -> None:
        version = await self._tx.version()
        await self._tx.changing(sql.DELIVER_MESSAGE, owner, str(key), KINDS[key.type], *values,
                                unread, version)  # fmt: skip

    async def deliver_to_members(
        self, team: SessionKey, values: tuple[object, ...], sender: str, unread: int
    ) -> None:
        version = await self._tx.version()
        await self._tx.changing(sql.DELIVER_TO_TEAM, sender, str(team), KINDS[team.type], *values,
                                unread, version)  # fmt: skip

    async def revoke(
        self,
        owner: str,
        key: SessionKey,
        revoke: RevokeNotification,
        sender: str | None,
        sent: int | None,
    ) -> None:
        params = (revoke.message_server_id, revoke.operator, revoke.time, revoke.postscript,
                  sender, sent, await self._tx.version())  # fmt: skip
        await self._tx.changing(sql.APPLY_REVOCATION, *params, str(key), owner)


@functools.lru_cache(maxsize=64)
def _numbered(statement: str) -> str:
    return sql.numbered(statement)


def _server(dsn: str) -> str:
    """``host:port`` of a PostgreSQL URL, for messages: never its user or password."""
    url = urlsplit(dsn)
    host = url.hostname or "localhost"
    return f"[{host}]:{url.port or 5432}" if ":" in host else f"{host}:{url.port or 5432}"
