"""A small graphql-transport-ws client over `websockets`, as a browser's graphql-ws would talk."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

PROTOCOL = "graphql-transport-ws"


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class GraphQLSocket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
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
    ) -> GraphQLSocket:
        sock = None
        if receive_buffer is not None:
            # A client that really stops reading: a tiny kernel buffer and no compression.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
            sock.connect((host, int(port)))
        connection = await websockets.connect(
            url,
            subprotocols=[PROTOCOL],  # type: ignore[list-item]
            origin=origin,  # type: ignore[arg-type]
            compression=None,
            max_queue=max_queue,
            sock=sock,
            open_timeout=10,
        )
        client = cls(connection)
        payload = {} if token is None else {"authorization": f"Bearer {token}"}
        await client.send({"type": "connection_init", "payload": payload})
        message = await client.receive()
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
            if message.get("type") == "pong":
                continue
            return message

    async def subscribe(self, query: str, **variables: Any) -> str:
        self._ids += 1
        id = str(self._ids)
        payload = {"query": query, "variables": variables}
        await self.send({"id": id, "type": "subscribe", "payload": payload})
        return id

    async def next_data(self, wait: float = 10) -> dict[str, Any]:
        """The data of the next event on any subscription; errors fail the test."""
        message = await self.receive(wait)
        if message.get("type") != "next" or message["payload"].get("errors"):
            raise AssertionError(f"expected an event, got {message}")
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def drain_until_closed(self) -> Closed:
        """Read everything buffered until the server's close arrives."""
        while True:
            try:
                await self.receive(wait=30)
            except Closed as closed:
                return closed

    async def close(self) -> None:
        await self.connection.close()
