"""The floor: a minimal Starlette endpoint that reads the same page from the same store and
returns the same JSON as the GraphQL query, with no GraphQL in between.

    python -m bench.floor DATABASE_URL PORT
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.domain.cursors import CursorCodec
from gateway.domain.pages import PageQuery, Position, TimeWindow
from gateway.schema.ids import global_id
from gateway.schema.scalars import format_timestamp
from gateway.settings import Settings
from gateway.store import open_store

VIEWER = "viewer"


def build(database_url: str) -> Starlette:
    store = open_store(Settings(database_url=database_url))
    cursors = CursorCodec(b"floor")

    async def page(request: Request) -> Response:
        first = int(request.query_params.get("first", "20"))
        after = request.query_params.get("after")
        position = cursors.decode(VIEWER, after) if after else None
        result = await store.list_sessions(VIEWER, PageQuery(TimeWindow(), first, position))
        messages = await store.get_messages(
            [s.last_message_ref for s in result.sessions if s.last_message_ref]
        )
        edges = []
        for s in result.sessions:
            m = messages.get(s.last_message_ref or "")
            edges.append(
                {
                    "cursor": cursors.encode(VIEWER, Position.of(s)),
                    "node": {
                        "id": global_id(s.key),
                        "key": str(s.key),
                        "updateTime": format_timestamp(s.update_time),
                        "unreadCount": s.unread_count,
                        "lastMessage": None
                        if m is None
                        else {
                            "serverId": m.server_id,
                            "from": m.from_account,
                            "text": m.text,
                            "time": format_timestamp(m.time),
                        },
                    },
                }
            )
        body = {
            "data": {
                "sessions": {
                    "edges": edges,
                    "pageInfo": {
                        "hasNextPage": result.has_more,
                        "endCursor": edges[-1]["cursor"] if edges else None,
                    },
                }
            }
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with store:
            yield

    return Starlette(routes=[Route("/page", page)], lifespan=lifespan)


if __name__ == "__main__":
    # The gateway's way of accepting connections (server/listener.py: every one waiting, not one a
    # loop turn), so that p99s compare request handling, not accept loops.
    uvicorn.run(build(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
                loop="gateway.server.listener:new_event_loop")  # fmt: skip
