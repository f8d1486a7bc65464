"""Bench data: one viewer with N P2P sessions, each with a last message, in a store of either
kind. Written with bulk SQL (after the store has migrated) so 100,000 sessions take seconds."""

from __future__ import annotations

import sqlite3

import asyncpg

from gateway.domain.keys import SessionKey, SessionType, conversation_of
from gateway.store import PostgresStore, SqliteStore

VIEWER = "viewer"
BASE_TIME = 1_790_000_000_000


def _peer(n: int) -> SessionKey:
    return SessionKey(SessionType.P2P, f"peer{n:06}")


async def fill_sqlite(path: str, sessions: int, owners: tuple[str, ...] = (VIEWER,)) -> None:
    """``sessions`` sessions for each of ``owners`` (their messages' ids are unique per owner
    only after the first: ``VIEWER``'s are ``m<n>``, as PostGraphile's foreign key needs)."""
    async with SqliteStore(path):
        pass  # migrated
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


async def fill_postgres(url: str, sessions: int) -> None:
    async with PostgresStore(url):
        pass  # migrated
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
