"""The server's event loop accepts every connection waiting at once: connections that arrive
together while the loop is busy are not taken one a turn, each behind a whole turn of the
requests of those already open."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine

from gateway.server.config import ServerConfig
from gateway.server.http import ConnectionLimits

WAITING = 32
# A waiting connection is accepted at the loop's next poll, handed to the loop at the turn
# after and made at the one after that; one turn more for slack. Taken one a turn, 32 would
# need 32 turns.
TURNS = 4


def on_the_servers_loop(scenario: Callable[[], Coroutine[None, None, None]]) -> None:
    config = ServerConfig(None, limits=ConnectionLimits(), log_config=None)  # leaves logging be
    loop_factory = config.get_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(scenario())


class Counted(asyncio.Protocol):
    made: list[asyncio.BaseTransport]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)


async def turns(count: int) -> None:
    """Lets the loop turn ``count`` times: each turn polls for I/O once."""
    for _ in range(count):
        await asyncio.sleep(0)


def test_connections_waiting_together_are_all_made_within_a_few_turns() -> None:
    async def scenario() -> None:
        made: list[asyncio.BaseTransport] = []
        counted = type("Made", (Counted,), {"made": made})
        server = await asyncio.get_running_loop().create_server(counted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # Connected by the kernel, waiting in the listening socket's queue: the loop has not
        # turned since.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(WAITING)]
        try:
            await turns(TURNS)
            assert len(made) == WAITING
        finally:
            for client in clients:
                client.close()
            for transport in made:
                transport.close()
            server.close()

    on_the_servers_loop(scenario)


def test_a_closed_server_accepts_no_more() -> None:
    async def scenario() -> None:
        server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        assert not server.is_serving()
        refused = False
        try:
            socket.create_connection(("127.0.0.1", port)).close()
        except ConnectionRefusedError:
            refused = True
        assert refused

    on_the_servers_loop(scenario)
