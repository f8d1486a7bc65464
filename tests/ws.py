"""A small GraphQL-over-WebSocket client over `websockets`: graphql-transport-ws as a browser's
graphql-ws would talk it, or the legacy graphql-ws subprotocol (Python's gql speaks it by default);
and the gateway served in the test's own process, for tests that set its clock or read its logs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
import orjson
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from gateway.server.websocket import FramedWebSocketProtocol
from gateway.settings import Settings

PROTOCOL = "graphql-transport-ws"
LEGACY_PROTOCOL = "graphql-ws"
PROTOCOLS = [PROTOCOL, LEGACY_PROTOCOL]
# Keep-alives of either protocol: answered or skipped, never returned.
_KEEP_ALIVES = {"pong", "ka"}


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class GraphQLSocket:
    def __init__(self, connection: ClientConnection, protocol: str = PROTOCOL) -> None:
        self.connection = connection
        self.protocol = protocol
        self._ids = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None,
        *,
        origin: str | None = None,
        receive_buffer: int | None = None,
        max_queue: int | None = 16,
        protocol: str = PROTOCOL,
        compression: Literal["deflate"] | None = None,
    ) -> GraphQLSocket:
        """Connected and acknowledged; ``Closed`` when the server refuses the connection."""
        sock = None
        if receive_buffer is not None:
            # A client that really stops reading: a tiny kernel buffer and no compression.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
            sock.connect((host, int(port)))
        connection = await websockets.connect(
            url,
            subprotocols=[protocol],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
            compression=None if receive_buffer is not None else compression,
            max_queue=max_queue,
            sock=sock,
            open_timeout=10,
        )
        client = cls(connection, protocol)
        payload = {} if token is None else {"authorization": f"Bearer {token}"}
        await client.send({"type": "connection_init", "payload": payload})
        message = await client.receive()
        if message.get("type") == "connection_error":  # legacy: the close follows
            raise await client.drain_until_closed()
        if message.get("type") != "connection_ack":
            raise AssertionError(f"expected connection_ack, got {message}")
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    async def receive(self, wait: float = 10) -> dict[str, Any]:
        while True:
            try:
                raw = await asyncio.wait_for(self.connection.recv(), wait)
            except websockets.ConnectionClosed as e:
                received = e.rcvd
                raise Closed(received.code if received else None,
                             received.reason if received else "") from None  # fmt: skip
            # The protocol sends JSON in text frames; browsers' graphql-ws drops the connection
            # on a binary one (it did, until the gateway stopped sending orjson's bytes as is).
            assert isinstance(raw, str), f"binary frame: {raw!r}"
            message: dict[str, Any] = orjson.loads(raw)
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            if message.get("type") in _KEEP_ALIVES:
                continue
            return message

    async def subscribe(self, query: str, **variables: Any) -> str:
        self._ids += 1
        id = str(self._ids)
        payload = {"query": query, "variables": variables}
        start = "subscribe" if self.protocol == PROTOCOL else "start"
        await self.send({"id": id, "type": start, "payload": payload})
        return id

    async def next_data(self, wait: float = 10) -> dict[str, Any]:
        """The data of the next event on any subscription; errors fail the test."""
        message = await self.receive(wait)
        event = "next" if self.protocol == PROTOCOL else "data"
        if message.get("type") != event or message["payload"].get("errors"):
            raise AssertionError(f"expected an event, got {message}")
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def drain_until_closed(self, wait: float = 30) -> Closed:
        """Read everything buffered until the server's close arrives."""
        while True:
            try:
                await self.receive(wait)
            except Closed as closed:
                return closed

    async def close(self) -> None:
        await self.connection.close()


@asynccontextmanager
async def served(app: Any, ws_max_size: int | None = None) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free port in this event loop; yields its WebSocket URL."""
    # WebSockets as `gateway serve` speaks them (server/config.py: its message limit).
    max_size = Settings().ws_max_message_bytes if ws_max_size is None else ws_max_size
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on",
                            ws=FramedWebSocketProtocol, ws_max_size=max_size)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                assert not task.done(), "the server stopped while starting"
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def metrics_of(ws_url: str) -> str:
    """/metrics of the gateway ``served`` at ``ws_url``."""
    async with httpx.AsyncClient() as client:
        base = ws_url.replace("ws://", "http://").removesuffix("/graphql")
        return (await client.get(f"{base}/metrics")).text
