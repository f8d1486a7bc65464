"""Where a W1 request's time goes: the page query through the real app (ASGI, no sockets),
profiled with cProfile, its own time summed by layer.

    python -m bench.profile DATABASE [REQUESTS]   prints the layers as JSON

cProfile's overhead is per call, so layers made of many small calls read higher than they are;
the split still says which layer to work on next. The page's read runs on the event loop (a
bounded read: store/sqlite.py), so it is profiled; reads on aiosqlite's threads would not be
(cProfile follows the thread that runs the event loop).
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
from collections import Counter
from typing import Any

import orjson
from pydantic import SecretStr

from gateway.auth import issue_token
from gateway.settings import Settings
from gateway.store import SqliteStore
from gateway.web.app import create_app

# By the path of the function's file (first match wins).
LAYERS = (
    ("compiled query (generated completion)", ("<compiled query",)),
    ("GraphQL: compiler and schema glue", ("gateway/fastpath", "gateway/schema/__init__",
                                          "gateway/schema/limits", "gateway/metrics")),
    ("resolvers (page to objects, cursors)", ("gateway/schema/", "gateway/domain/")),
    ("store (statements, SQLite reads, rows)", ("gateway/store/", "aiosqlite/")),
    ("Strawberry resolver wrapper and graphql-core", ("strawberry/", "graphql/")),
    ("HTTP edge (uvicorn middleware, Starlette, our view)", ("starlette/", "uvicorn/",
                                                             "gateway/web/", "gateway/logs")),
    ("asyncio event loop", ("asyncio/",)),
)  # fmt: skip
PAGE = (
    "{ sessions(first: 20) { edges { cursor node { id key updateTime unreadCount "
    "lastMessage { serverId from text time } } } pageInfo { hasNextPage endCursor } } }"
)


def layer_of(filename: str) -> str:
    for name, markers in LAYERS:
        if any(marker in filename for marker in markers):
            return name
    return "other"


async def profile(database: str, requests: int) -> dict[str, Any]:
    settings = Settings(jwt_secret=SecretStr("profile-secret-profile-secret-profile"),
                        database_url=database, rate_limit_reads_per_minute=0)  # fmt: skip
    token = issue_token(settings, "viewer", ttl_seconds=3600)
    body = orjson.dumps({"query": PAGE})
    headers = [(b"host", b"gateway"), (b"content-type", b"application/json"),
               (b"authorization", f"Bearer {token}".encode()),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    async with SqliteStore(database) as store:
        app = create_app(settings, store)

        async def one() -> None:
            sent = False

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    await asyncio.Event().wait()  # the client never disconnects
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    assert message["status"] == 200, message

            scope = {"type": "http", "http_version": "1.1", "method": "POST", "path": "/graphql",
                     "raw_path": b"/graphql", "query_string": b"", "headers": headers,
                     "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "scheme": "http",
                     "root_path": "", "state": {}}  # fmt: skip
            await app(scope, receive, send)  # type: ignore[arg-type]

        for _ in range(200):  # compiled, cached, warm
            await one()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            await one()
        profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    layers: Counter[str] = Counter()
    idle = 0.0
    for (filename, _, function), (_, _, own, _, callers) in stats.items():
        if "poll' of 'select.epoll" in function:
            idle += own  # the loop waits: for a thread (a read that is not bounded), mostly
            continue
        if filename == "~" and callers:  # a builtin: the time of the layer that called it
            filename = max(callers.items(), key=lambda item: item[1][3])[0][0]
        layers[layer_of(filename)] += own
    total = sum(layers.values())
    return {
        "requests": requests,
        "cpu_ms_per_request": 1000 * total / requests,
        "idle_ms_per_request": 1000 * idle / requests,
        "layers": {name: seconds / total for name, seconds in layers.most_common()},
    }


def main() -> None:
    database = sys.argv[1]
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    print(orjson.dumps(asyncio.run(profile(database, requests))).decode())


if __name__ == "__main__":
    main()
