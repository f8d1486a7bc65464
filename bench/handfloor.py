"""The hand-written floor: what a careful engineer would write for the W1 page alone. Its own
table shaped for the page (the session and its last message in one row, indexed by the page's
order), one indexed query per request and the JSON built directly, the same JSON as the
GraphQL query's (cursors signed as the gateway signs them). No store, no GraphQL.

    python -m bench.handfloor DATABASE_URL PORT

SQLite is read synchronously on the event loop (one indexed read of 21 rows is well under a
millisecond); PostgreSQL through an asyncpg pool.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.domain.cursors import CursorCodec
from gateway.domain.pages import Position
from gateway.schema.ids import global_id
from gateway.schema.scalars import format_timestamp
from gateway.store._rows import key_from_db

VIEWER = "viewer"
TABLE = """
CREATE TABLE IF NOT EXISTS hand_page AS
SELECT s.owner, s.key, s.update_time, s.unread, m.server_id, m.from_account, m.text, m.time
FROM sessions s LEFT JOIN messages m ON m.server_id = s.last_msg_id
WHERE s.deleted_at IS NULL
"""
INDEX = (
    "CREATE INDEX IF NOT EXISTS hand_page_by_time ON hand_page (owner, update_time DESC, key DESC)"
)
PAGE = (
    "SELECT key, update_time, unread, server_id, from_account, text, time FROM hand_page "
    "WHERE owner = {0} ORDER BY update_time DESC, key DESC LIMIT {1}"
)


def body(rows: list[Any], first: int, cursors: CursorCodec) -> bytes:
    edges = []
    for key, update_time, unread, server_id, from_account, text, time in rows[:first]:
        session_key = key_from_db(key)
        edges.append(
            {
                "cursor": cursors.encode(VIEWER, Position(update_time, session_key)),
                "node": {
                    "id": global_id(session_key),
                    "key": key,
                    "updateTime": format_timestamp(update_time),
                    "unreadCount": unread,
                    "lastMessage": None
                    if server_id is None
                    else {
                        "serverId": server_id,
                        "from": from_account,
                        "text": text,
                        "time": format_timestamp(time),
                    },
                },
            }
        )
    page_info = {
        "hasNextPage": len(rows) > first,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    return orjson.dumps({"data": {"sessions": {"edges": edges, "pageInfo": page_info}}})


def build(database_url: str) -> Starlette:
    cursors = CursorCodec(b"floor")
    read: Callable[[int], Any]
    state: dict[str, Any] = {}

    if database_url.startswith("postgres"):
        statement = PAGE.format("$1", "$2")

        async def read(first: int) -> list[Any]:
            async with state["pool"].acquire() as db:
                return list(await db.fetch(statement, VIEWER, first + 1))

    else:
        statement = PAGE.format("?", "?")
        path = database_url.removeprefix("sqlite:///").removeprefix("sqlite://")

        async def read(first: int) -> list[Any]:
            return state["db"].execute(statement, (VIEWER, first + 1)).fetchall()  # type: ignore[no-any-return]

    async def page(request: Request) -> Response:
        first = int(request.query_params.get("first", "20"))
        return Response(body(await read(first), first, cursors), media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if database_url.startswith("postgres"):
            pool = await asyncpg.create_pool(database_url, min_size=4, max_size=10)
            async with pool.acquire() as db:
                await db.execute(TABLE)
                await db.execute(INDEX)
                await db.execute("ANALYZE hand_page")
            state["pool"] = pool
            try:
                yield
            finally:
                await pool.close()
        else:
            with sqlite3.connect(path) as setup:
                setup.execute(TABLE)
                setup.execute(INDEX)
            state["db"] = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                yield
            finally:
                state["db"].close()

    return Starlette(routes=[Route("/page", page)], lifespan=lifespan)


if __name__ == "__main__":
    # The gateway's way of accepting connections (server/listener.py: every one waiting, not one a
    # loop turn), so that p99s compare request handling, not accept loops.
    uvicorn.run(build(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
                loop="gateway.server.listener:new_event_loop")  # fmt: skip
