"""The scale-out store: PostgreSQL through an asyncpg pool, for many stateless gateway replicas.

Each commit that changes someone's list also sends a NOTIFY naming those owners on its schema's
channel (``channel_of``: ``gateway_sessions`` in ``public``), and a LISTEN connection per replica
wakes the subscribers of the owners named by others.
That connection is kept: when it goes (a PostgreSQL restart, a failover, a cut network), the
replica listens again on a new one and wakes every watched owner, since changes may have passed
unheard in between.

While the database is away, reads and writes fail with ``StoreUnavailable`` (a write is tried
three times first); pooled connections it dropped are replaced as they are next used, so the
store recovers by itself. A write whose COMMIT went unanswered may have committed: the replica's
own subscribers are woken to read their feeds, as for a commit elsewhere.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlsplit

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from gateway.errors import ConfigurationError, StoreUnavailable
from gateway.store._driver import Connection, Dialect, RemoteChange
from gateway.store._messages import DEFAULT_BYTES
from gateway.store._migrations import load_migrations
from gateway.store._rows import Row
from gateway.store.sql import SqlStore

logger = logging.getLogger("gateway.store")

T = TypeVar("T")
# RETURNING costs PostgreSQL less than a second round trip even when one owner in a hundred is
# watched (record_team_message to 1,000 members: 2.5 ms less at 1%, 30 ms less at 100%).
POSTGRES = Dialect(
    greatest="GREATEST",
    elements="unnest(CAST(? AS TEXT[])) WITH ORDINALITY AS e(value, key)",
    returning_from=0.0,
    temporary="ON COMMIT DROP",
    long_transaction="SET LOCAL statement_timeout = 0",
    analyze="ANALYZE {}",
    duplicate_key=(asyncpg.UniqueViolationError,),
    padded_time="lpad(CAST(time AS TEXT), 20, '0')",
)
CHANNEL = "gateway_sessions"  # public's, and every schema's before per-schema channels
_NOTICE_BYTES = 7900  # NOTIFY takes payloads under 8000 bytes
_NOTIFY = "SELECT pg_notify(?, notice) FROM unnest(CAST(? AS TEXT[])) AS n(notice)"
_LISTEN_CHECK_S = 10.0  # how often an idle LISTEN connection is asked whether it still works
_MIGRATION_LOCK = 7_264_001  # pg_advisory_lock key: one replica migrates at a time
_WRITE_ATTEMPTS = 3
# The database is away or dropped the connection: a restart, a failover, a terminated backend,
# a cut network, no connection slot left. A connection whose backend was terminated while it
# was idle may also answer its next statement with InternalClientError ("another operation is
# in progress": the server's goodbye read as a reply) before it knows it is closed.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InternalClientError,
)
_CONFLICTS = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
Db: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"


class PostgresStore(SqlStore):
    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 10,
        statement_timeout_ms: int = 5000,
        connect_retries: int = 10,
        connect_timeout_s: float = 10,
        trace: Callable[[str], None] | None = None,
        message_cache_bytes: int = DEFAULT_BYTES,
    ) -> None:
        super().__init__(
            PostgresDriver(
                dsn, pool_size, statement_timeout_ms, connect_retries, connect_timeout_s, trace
            ),
            message_cache_bytes=message_cache_bytes,
        )


class PostgresDriver:
    dialect = POSTGRES

    def __init__(
        self,
        dsn: str,
        pool_size: int,
        statement_timeout_ms: int,
        connect_retries: int,
        connect_timeout_s: float,
        trace: Callable[[str], None] | None,
    ) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._settings = {"statement_timeout": str(statement_timeout_ms)}
        self._connect_retries = connect_retries
        self._connect_timeout_s = connect_timeout_s
        self._trace = trace
        self._pool: asyncpg.Pool | None = None
        # asyncpg's pool is not first come, first served: a waiter woken for a released
        # connection may find it taken by a newcomer and go to the back of the line again (at
        # 64 busy HTTP connections on 10, a few waited over a second). Those waiting for the
        # pool wait here instead, in order: asyncio's Semaphore lets no one pass a waiter.
        self._line = asyncio.Semaphore(pool_size)
        self._listen: asyncpg.Connection | None = None
        self._listen_lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._replica = uuid.uuid4().hex  # tells this replica's notices from others'
        self._changed_elsewhere: RemoteChange | None = None
        self._channel = CHANNEL

    async def open(self) -> None:
        self._pool = await self._connect()
        async with self._pool.acquire() as db:
            await self._migrate(db)
            self._channel = channel_of(await db.fetchval("SELECT current_schema()"))
        self._listen = await self._listening_connection()
        self._keeper = asyncio.create_task(self._keep_listening(), name="gateway LISTEN keeper")

    async def _connect(self) -> asyncpg.Pool:
        for attempt in range(self._connect_retries + 1):
            try:
                return await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._pool_size,
                    server_settings=self._settings,
                    init=self._init_connection,
                    # The store leaves no session state behind (no LISTEN, locks or SET on
                    # pooled connections), so skip asyncpg's reset round trip on release.
                    reset=_no_reset,
                    timeout=self._connect_timeout_s,
                )
            except (OSError, asyncpg.CannotConnectNowError) as e:
                attempts = self._connect_retries + 1
                reason = _reason(e)
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
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if self._listen is not None:
            self._listen.remove_termination_listener(self._on_listen_lost)
            await self._listen.close()
            self._listen = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _listening_connection(self) -> asyncpg.Connection:
        db = await asyncpg.connect(
            self._dsn, server_settings=self._settings, timeout=self._connect_timeout_s
        )
        try:
            await db.add_listener(self._channel, self._on_notice)
            if self._channel != CHANNEL:
                # Replicas of a release before per-schema channels (a rolling upgrade) notify
                # on the database's one channel.
                await db.add_listener(CHANNEL, self._on_notice)
        except BaseException:
            db.terminate()
            raise
        db.add_termination_listener(self._on_listen_lost)
        return db

    def _on_listen_lost(self, db: asyncpg.Connection[Any] | PoolConnectionProxy[Any]) -> None:
        del db
        self._listen_lost.set()

    async def _keep_listening(self) -> None:
        while True:
            await self._until_listening_fails()
            lost, self._listen = self._listen, None
            if lost is not None:
                lost.remove_termination_listener(self._on_listen_lost)
                lost.terminate()
            logger.warning(
                "lost the LISTEN connection to PostgreSQL at %s: changes other replicas make "
                "wake no subscriber here until it is back", _server(self._dsn)
            )  # fmt: skip
            self._listen = await self._listen_again()
            logger.warning("listening to PostgreSQL at %s again", _server(self._dsn))
            if self._changed_elsewhere is not None:
                self._changed_elsewhere(None)  # anyone's list may have changed meanwhile

    async def _until_listening_fails(self) -> None:
        """Returns when the LISTEN connection closed, or (a cut network closes nothing) when it
        does not answer a query within the connect timeout."""
        self._listen_lost.clear()
        while self._listen is not None and not self._listen.is_closed():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._listen_lost.wait(), _LISTEN_CHECK_S)
                return
            try:
                await asyncio.wait_for(self._listen.execute("SELECT 1"), self._connect_timeout_s)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                return

    async def _listen_again(self) -> asyncpg.Connection:
        """A new LISTEN connection, tried with backoff for as long as the replica runs."""
        attempt = 0
        while True:
            try:
                return await self._listening_connection()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                pause = min(0.2 * 2**attempt, 5)
                attempt += 1
                logger.warning(
                    "PostgreSQL at %s not reachable (%s): listening again in %.1f s",
                    _server(self._dsn), _reason(e), pause,
                )  # fmt: skip
                await asyncio.sleep(pause)

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
    async def read(
        self, *, snapshot: bool = False, bounded: bool = False
    ) -> AsyncIterator[Connection]:
        try:
            async with self._pooled() as db:
                if not snapshot:
                    yield _Connection(db)
                    return
                async with db.transaction(isolation="repeatable_read", readonly=True):
                    yield _Connection(db)
        except Exception as e:
            if _unavailable(e):
                raise _store_unavailable(self._dsn, e) from e
            raise

    @asynccontextmanager
    async def _pooled(self) -> AsyncIterator[Db]:
        """A connection from the pool, in the order they were asked for."""
        if self._pool is None:
            raise RuntimeError("the store is not open")
        async with self._line, self._pool.acquire() as db, _dropped_when_broken(db):
            yield db

    async def transaction(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run again after a transient failure (deadlock, lost connection)."""
        unanswered = False  # a COMMIT sent whose answer was lost with the connection
        try:
            for attempt in range(1, _WRITE_ATTEMPTS + 1):
                committing = False
                try:
                    async with self._pooled() as db:
                        async with db.transaction():
                            result = await work(_Connection(db))
                            committing = True
                        return result
                except Exception as e:
                    unavailable = _unavailable(e)
                    if not (unavailable or isinstance(e, _CONFLICTS)):
                        raise
                    unanswered = unanswered or (committing and unavailable)
                    if attempt == _WRITE_ATTEMPTS and unavailable:
                        raise _store_unavailable(self._dsn, e) from e
                    if attempt == _WRITE_ATTEMPTS:
                        raise
                    logger.warning("retrying a write after %s", type(e).__name__)
                    await asyncio.sleep(0.05 * attempt)
            raise AssertionError("unreachable")
        finally:
            if unanswered and self._changed_elsewhere is not None:
                # Its commit, if it happened, told only the other replicas (NOTIFY).
                self._changed_elsewhere(None)

    async def notify(self, db: Connection, owners: Collection[str]) -> None:
        # One statement, however many notices a large team's fan-out needs.
        await db.execute(_NOTIFY, self._channel, _notices(self._replica, owners))

    def on_remote_change(self, changed: RemoteChange) -> None:
        self._changed_elsewhere = changed

    def _on_notice(
        self,
        db: asyncpg.Connection[Any] | PoolConnectionProxy[Any],
        pid: int,
        channel: str,
        payload: object,
    ) -> None:
        del db, pid
        try:
            notice = orjson.loads(str(payload))
            replica, owners = notice["replica"], notice["owners"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            # Not ours: a channel is a database's, and something else may use the name.
            logger.debug("ignored a foreign notice on %s: %.100r", channel, payload)
            return
        if replica != self._replica and self._changed_elsewhere is not None:
            self._changed_elsewhere(None if owners is None else frozenset(owners))


def channel_of(schema: str | None) -> str:
    """The NOTIFY channel of the gateways whose tables are in ``schema``. A channel is the
    database's, so gateways in other schemas of it (another deployment, the test suite's
    schemas) would otherwise wake one another's subscribers for owners of the same name: one
    channel a schema, ``gateway_sessions`` as before in ``public`` (no channel name is longer
    than PostgreSQL's 63 bytes: a long schema's is named by its hash)."""
    if schema is None or schema == "public":
        return CHANNEL
    channel = f"{CHANNEL}.{schema}"
    if len(channel.encode()) > 63:
        channel = f"{CHANNEL}.{hashlib.sha256(schema.encode()).hexdigest()[:32]}"
    return channel


def _notices(replica: str, owners: Collection[str]) -> list[str]:
    """The owners as notices that each fit NOTIFY's payload; one for anyone when an owner's
    name alone would not fit."""

    def notice(names: list[str] | None) -> str:
        return orjson.dumps({"replica": replica, "owners": names}).decode()

    notices: list[str] = []
    batch: list[str] = []
    room = _NOTICE_BYTES - len(notice([]))
    left = room
    for owner in sorted(owners):
        size = len(orjson.dumps(owner)) + 1
        if size > room:
            return [notice(None)]
        if size > left:
            notices.append(notice(batch))
            batch, left = [], room
        batch.append(owner)
        left -= size
    if batch:
        notices.append(notice(batch))
    return notices


async def _no_reset(db: asyncpg.Connection[Any]) -> None:
    del db


class _Connection:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def fetch(self, statement: str, *params: object) -> Sequence[Row]:
        return await self._db.fetch(_numbered(statement), *params)

    async def fetch_one(self, statement: str, *params: object) -> Row | None:
        return await self._db.fetchrow(_numbered(statement), *params)

    async def execute(self, statement: str, *params: object) -> None:
        await self._db.execute(_numbered(statement), *params)

    async def copy(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        await self._db.copy_records_to_table(table, records=rows, columns=list(columns))


@functools.lru_cache(maxsize=256)
def _numbered(statement: str) -> str:
    """The "?" placeholders as PostgreSQL's $1, $2, ..."""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", statement)


def _unavailable(e: BaseException) -> bool:
    """Whether ``e`` says the database is away or dropped the connection (worth trying again
    later), rather than that a statement or the gateway is wrong."""
    if isinstance(e, asyncpg.InterfaceError):  # "connection is closed", but not a bad parameter
        return not isinstance(e, ValueError)
    return isinstance(e, _UNAVAILABLE)


@asynccontextmanager
async def _dropped_when_broken(db: Db) -> AsyncIterator[None]:
    """Closes ``db`` when what runs on it finds it broken, or is cancelled, so the pool replaces
    it rather than handing it to the next caller."""
    try:
        yield
    except BaseException as e:
        # A statement cancelled while asyncpg prepares it (Parse and Describe sent, no Sync yet)
        # leaves the server inside an implicit transaction that asyncpg does not see, and the
        # pool's release does not reset (``_no_reset``): the next snapshot read on it would fail
        # ("SET TRANSACTION ISOLATION LEVEL must be called before any query").
        if _unavailable(e) or isinstance(e, asyncio.CancelledError):
            db.terminate()
        raise


def _store_unavailable(dsn: str, e: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"PostgreSQL at {_server(dsn)} is unavailable: {_reason(e)}")


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def _server(dsn: str) -> str:
    """``host:port`` of a PostgreSQL URL, for messages: never its user or password."""
    url = urlsplit(dsn)
    host = url.hostname or "localhost"
    return f"[{host}]:{url.port or 5432}" if ":" in host else f"{host}:{url.port or 5432}"
