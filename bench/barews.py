"""W6's baseline: a bare uvicorn + Starlette WebSocket endpoint that accepts a
graphql-transport-ws socket, acknowledges ``connection_init`` and holds the socket (a
``subscribe`` gets nothing back), on uvicorn's own protocols and loop (httptools, websockets,
uvloop: ``uvicorn[standard]``), as the gateway serves with.

    python -m bench.barews PORT
"""

from __future__ import annotations

import sys

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def graphql(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="graphql-transport-ws")
    try:
        while True:
            message = orjson.loads(await websocket.receive_text())
            if message.get("type") == "connection_init":
                await websocket.send_text('{"type":"connection_ack"}')
    except WebSocketDisconnect:
        pass


app = Starlette(routes=[Route("/healthz", healthz), WebSocketRoute("/graphql", graphql)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
