"""The server ``gateway serve`` runs: it opens what it serves inside uvicorn's signal handling,
and shuts down in an order that loses nothing."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager

import uvicorn

from gateway.logs import flush_logs


class GracefulServer(uvicorn.Server):
    """Enters ``serving`` (the store, opened with a one-line failure) before it serves and
    leaves it last. On SIGTERM: stop accepting, tell subscribers we are going away (1001,
    ``close_connections``), let in-flight requests and webhook transactions finish, then
    leave ``serving``."""

    def __init__(
        self,
        config: uvicorn.Config,
        close_connections: Callable[[int, str], Awaitable[None]],
        serving: AbstractAsyncContextManager[object],
    ) -> None:
        super().__init__(config)
        self._close_connections = close_connections
        self._serving = serving

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        # Server.serve is capture_signals around _serve; the store goes inside it, because on
        # leaving capture_signals uvicorn raises the caught SIGTERM again, ending the process
        # there: a store closed after that would never be closed (SQLite's log left behind,
        # PostgreSQL connections cut).
        with self.capture_signals():
            async with self._serving:
                await self._serve(sockets)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # After shutting down, uvicorn raises the signal it caught again, which ends the process
        # there and then: the log lines still queued for writing are written first.
        with super().capture_signals():
            try:
                yield
            finally:
                flush_logs()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections from here on
        await self._close_connections(1001, "server shutting down: reconnect with your sync token")
        await super().shutdown(sockets)
