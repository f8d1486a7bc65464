"""Bench data: one viewer with N P2P sessions, each with a last message, in a store of either
kind. Written with bulk SQL (after the store has migrated) so 100,000 sessions take seconds."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from bench.servers import start_gateway
from gateway.domain.keys import SessionKey, SessionType, conversation_of
from gateway.store import PostgresStore, SqliteStore

VIEWER = "viewer"
BASE_TIME = 1_790_000_000_000


def _peer(n: int) -> SessionKey:
    return SessionKey(SessionType.P2P, f"peer{n:06}")


async def fill_sqlite(
    path: str, sessions: int, owners: tuple[str, ...] = (VIEWER,), *, migrate: bool = True
) -> None:
    """``sessions`` sessions for each of ``owners`` (their messages' ids are unique per owner
    only after the first: ``VIEWER``'s are ``m<n>``, as PostGraphile's foreign key needs), in
    a database this checkout's store migrates (unless ``migrate`` is false: one migrated)."""
    if migrate:
        async with SqliteStore(path):
            pass
    with sqlite3.connect(path) as db:
        for owner in owners:
            prefix = "m" if owner == VIEWER else f"{owner}-m"
            db.executemany(
                "INSERT INTO messages (server_id, conversation, client_id, from_account, type, "
                "time, text) VALUES (?, ?, ?, ?, 'TEXT', ?, ?)",
                (
                    (f"{prefix}{n}", conversation_of(owner, _peer(n)), f"c{n}", f"peer{n}",
                     BASE_TIME + n, f"message number {n}")
                    for n in range(sessions)
                ),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO sessions (owner, key, kind, update_time, last_kind, last_msg_id, "
                "last_msg_time, unread) VALUES (?, ?, 0, ?, 0, ?, ?, 1)",
                (
                    (owner, str(_peer(n)), BASE_TIME + n, f"{prefix}{n}", BASE_TIME + n)
                    for n in range(sessions)
                ),
            )


async def fill_postgres(url: str, sessions: int, *, migrate: bool = True) -> None:
    if migrate:
        async with PostgresStore(url):
            pass
    db = await asyncpg.connect(url)
    try:
        await db.execute(  # the conversation: keys.conversation_of (peer000001 < viewer)
            "INSERT INTO messages (server_id, conversation, client_id, from_account, type, time, "
            "text) SELECT 'm' || n, 'p2p|peer' || lpad(n::text, 6, '0') || ' viewer', 'c' || n, "
            "'peer' || n, 'TEXT', $1::bigint + n, "
            "'message number ' || n FROM generate_series(0, $2 - 1) AS n",
            BASE_TIME,
            sessions,
        )
        await db.execute(
            "INSERT INTO sessions (owner, key, kind, update_time, last_kind, last_msg_id, "
            "last_msg_time, unread) SELECT $1, 'p2p|peer' || lpad(n::text, 6, '0'), 0, "
            "$2::bigint + n, 0, 'm' || n, $2::bigint + n, 1 FROM generate_series(0, $3 - 1) AS n",
            VIEWER,
            BASE_TIME,
            sessions,
        )
        await db.execute("ANALYZE")
    finally:
        await db.close()


async def execute(url: str, statement: str) -> None:
    """One statement on the PostgreSQL database at ``url`` (a bench's schema made or dropped)."""
    db = await asyncpg.connect(url)
    try:
        await db.execute(statement)
    finally:
        await db.close()


@contextmanager
def migrated_by(tree: Path, database: str, sessions: int, env: dict[str, str]) -> Iterator[str]:
    """A database of its own for the gateway in ``tree`` (a checkout), beside ``database`` (a
    SQLite path, or a PostgreSQL URL with a search_path), with the same ``sessions``: that
    gateway migrates it (a gateway refuses a schema newer than it knows), the bench's data go
    in, and a PostgreSQL schema is dropped afterwards."""
    postgres = database.startswith("postgres")
    if postgres:
        base = database.partition("?")[0]
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(execute(base, f"CREATE SCHEMA {schema}"))
        own = f"{base}?search_path={schema}"
    else:
        own = str(Path(database).with_name(f"{Path(database).stem}-{uuid.uuid4().hex[:8]}.db"))
    try:
        with start_gateway({**env, "GATEWAY_DATABASE_URL": own}, tree=tree):
            pass  # migrated
        if postgres:
            asyncio.run(fill_postgres(own, sessions, migrate=False))
        else:
            asyncio.run(fill_sqlite(own, sessions, migrate=False))
        yield own
    finally:
        if postgres:
            asyncio.run(execute(base, f"DROP SCHEMA {schema} CASCADE"))
