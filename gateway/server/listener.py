"""Listening sockets that accept every connection waiting, each time they are ready.

uvloop's libuv (1.45 on) accepts one connection each time the loop polls a listening socket and
leaves the rest to the next poll. Under load a turn of the loop runs every request that became
ready since the last poll (at 64 busy keep-alive connections, ~40 ms here), so connections that
arrive together would be accepted one a turn: the thirtieth waits thirty turns, over a second,
before its first request is even read, while the connections already open are answered every
turn. asyncio's own loop accepts all that wait at once, and so does this one: ``new_event_loop``
makes uvloop's loop whose ``create_server`` listens with a :class:`Listener`, which accepts
every waiting connection when its socket is ready and hands each to the loop as an accepted
socket. However many arrive together, their first requests are read two turns later. (TLS,
which the gateway leaves to its proxy, stays uvloop's.)
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Sequence

import uvloop

logger = logging.getLogger("gateway")

ProtocolFactory = Callable[[], asyncio.BaseProtocol]
# Out of file descriptors or memory: accepting again at once would spin (asyncio's choice too).
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RETRY_AFTER_S = 1.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    return _Loop()


class _Loop(uvloop.Loop):
    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: object = None,
        **options: object,
    ) -> asyncio.AbstractServer:
        if ssl is not None or options or not isinstance(host, str | None):
            return await super().create_server(  # type: ignore[call-overload,no-any-return]
                protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl, **options
            )
        sockets = [sock] if sock is not None else await self._bind(host, port)
        listener = Listener(self, sockets, protocol_factory)
        listener.listen(backlog)
        return listener

    async def _bind(self, host: str | None, port: int | None) -> list[socket.socket]:
        """A socket bound to each address ``host`` names, as asyncio's create_server binds."""
        addresses = await self.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        sockets: list[socket.socket] = []
        try:
            for family, kind, proto, _, address in dict.fromkeys(addresses):
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        return sockets


class Listener(asyncio.AbstractServer):
    """Listens on ``sockets`` and, each time one is ready, accepts every connection waiting on
    it, each handed to ``loop`` with a protocol from ``protocol_factory``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: list[socket.socket],
        protocol_factory: ProtocolFactory,
    ) -> None:
        self._loop = loop
        self._sockets = sockets
        self._protocol_factory = protocol_factory
        self._serving = False
        self._resume: asyncio.TimerHandle | None = None
        self._handing_over: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def listen(self, backlog: int) -> None:
        for sock in self._sockets:
            sock.setblocking(False)
            sock.listen(backlog)
        self._watch()

    def _watch(self) -> None:
        self._resume = None
        self._serving = True
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _unwatch(self) -> None:
        self._serving = False
        for sock in self._sockets:
            self._loop.remove_reader(sock.fileno())

    def _accept(self, listening: socket.socket) -> None:
        while True:
            try:
                connection, _ = listening.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left waiting
            except ConnectionAbortedError:
                continue  # the client gave up while it waited
            except OSError as e:
                if e.errno not in _RESOURCE_ERRORS:
                    raise
                logger.error("cannot accept connections (%s): again in %.0f s", e, _RETRY_AFTER_S)
                self._unwatch()
                self._resume = self._loop.call_later(_RETRY_AFTER_S, self._watch)
                return
            task = self._loop.create_task(self._hand_over(connection))
            self._handing_over.add(task)
            task.add_done_callback(self._handing_over.discard)

    async def _hand_over(self, connection: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, connection)
        except OSError:  # gone before its transport was set up: nothing to answer
            connection.close()

    def close(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if self._serving:
            self._unwatch()
        for sock in self._sockets:
            sock.close()
        self._closed.set()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        """Serving starts when the server is created."""

    async def serve_forever(self) -> None:
        await self._closed.wait()

    async def wait_closed(self) -> None:
        """Waits for the connections accepted before ``close`` to be handed to the loop."""
        while self._handing_over:
            await asyncio.gather(*self._handing_over, return_exceptions=True)
