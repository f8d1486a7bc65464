"""A TCP proxy in front of PostgreSQL that a test can cut and restore: the database goes away for
the gateway (its connections dropped, new ones refused) without stopping the server others use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self.port = 0

    async def open(self) -> None:
        """Accept connections (again, on the same port after ``cut``)."""
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop every open one, as a database that went away."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    def url(self, database_url: str) -> str:
        """``database_url`` through the proxy."""
        parts = urlsplit(database_url)
        user, at, _ = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{user}{at}127.0.0.1:{self.port}"))

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream}
        for source, sink in ((reader, upstream), (upstream_reader, writer)):
            pump = asyncio.create_task(self._pump(source, sink, (writer, upstream)))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        for writer in pair:  # one side ended: so does the other
            writer.transport.abort()
            self._writers.discard(writer)


@asynccontextmanager
async def proxy_to(database_url: str) -> AsyncIterator[Proxy]:
    """A proxy to the PostgreSQL server of ``database_url``, open."""
    parts = urlsplit(database_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.open()
    try:
        yield proxy
    finally:
        await proxy.cut()
