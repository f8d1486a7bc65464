"""The gateway's WebSockets: each authenticated by its ``connection_init`` (the token in its
payload, as ``Authorization`` over HTTP), at most ``connections_per_account`` open per
account, closed when its token expires (4403, by the gateway's clock: a timer per socket, not a
task, so an idle socket holds no coroutine for it) and, at shutdown, all closed at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

import jwt
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError

from gateway.auth import Authenticator
from gateway.errors import Unauthenticated
from gateway.schema.context import Context
from gateway.web.limits import Refused

# WebSocket close code for a refused connection_init and for a token that expires (graphql-ws's
# Forbidden), on both subprotocols.
FORBIDDEN_CLOSE_CODE = 4403


@dataclass(frozen=True, slots=True)
class SocketLimits:
    allowed_origins: tuple[str, ...] = ()
    subscriptions_per_connection: int = 10
    connections_per_account: int = 20
    event_queue_size: int = 1000
    init_timeout: timedelta = timedelta(seconds=10)
    # Each message a client sends, decompressed (the server's protocol bounds it as it inflates:
    # ServerConfig's ws_max_size; this holds under any server).
    max_message_bytes: int = 65_536


class Sockets:
    def __init__(
        self,
        authenticator: Authenticator,
        clock: Callable[[], int],
        limits: SocketLimits,
        refused: Refused,
    ) -> None:
        self._authenticator = authenticator
        self._clock = clock
        self._limit = limits.connections_per_account
        self._refused = refused
        self._connections: Counter[str] = Counter()
        self._accounts: dict[int, str] = {}
        self._open: dict[int, WebSocket] = {}
        self._expiry_timers: dict[int, asyncio.TimerHandle] = {}
        self._expiring: set[asyncio.Task[None]] = set()

    def opened(self, socket: WebSocket, context: Context) -> None:
        """``socket`` is open, with ``context`` (its connection's): which learns to close it."""

        async def close(code: int, reason: str) -> None:
            await socket.close(code=code, reason=reason)

        context.close_connection = close
        context.socket_id = id(socket.scope)
        self._open[context.socket_id] = socket

    async def admit(self, context: Context) -> None:
        """Authenticates the connection by its ``connection_init`` payload and counts it for
        its account; ``ConnectionRejectionError`` (4403) for a bad token or one too many."""
        params = context.connection_params or {}
        header = params.get("authorization", params.get("Authorization"))
        try:
            account = await self._authenticator.authenticated(
                header if isinstance(header, str) else None
            )
        except Unauthenticated as e:
            raise ConnectionRejectionError({"code": e.code, "message": e.message}) from None
        if self._connections[account] >= self._limit:
            self._refused("TOO_MANY_CONNECTIONS")
            message = f"at most {self._limit} connections per account"
            raise ConnectionRejectionError({"code": "TOO_MANY_CONNECTIONS", "message": message})
        self._connections[account] += 1
        self._accounts[context.socket_id] = account
        context.viewer_id = account
        context.connection_params = None  # read: the socket need not keep the token
        assert isinstance(header, str)  # authenticated
        delay = _expires_at(header) - self._clock() / 1000
        self._expiry_timers[context.socket_id] = asyncio.get_running_loop().call_later(
            delay, self._expire, context
        )

    def closed(self, socket_id: int) -> None:
        """The socket ``socket_id`` (its scope's id) is gone: it counts no more."""
        self._open.pop(socket_id, None)
        if (timer := self._expiry_timers.pop(socket_id, None)) is not None:
            timer.cancel()
        if (account := self._accounts.pop(socket_id, None)) is not None:
            self._connections[account] -= 1
            if self._connections[account] <= 0:
                del self._connections[account]

    async def close_all(self, code: int, reason: str) -> None:
        """Close every open WebSocket (at shutdown: 1001, going away)."""
        for socket in list(self._open.values()):
            with suppress(Exception):  # already closing or gone
                await socket.close(code=code, reason=reason)

    def _expire(self, context: Context) -> None:
        """Closes the connection: its token expired, by the gateway's clock."""
        self._expiry_timers.pop(context.socket_id, None)
        closing = asyncio.create_task(self._close_expired(context))
        self._expiring.add(closing)
        closing.add_done_callback(self._expiring.discard)

    async def _close_expired(self, context: Context) -> None:
        if context.close_connection is not None:
            with suppress(Exception):  # already closing or gone
                await context.close_connection(
                    FORBIDDEN_CLOSE_CODE, "the access token has expired: reconnect with a new one"
                )


def _expires_at(authorization: str) -> float:
    """The ``exp`` claim of a bearer token that has been verified."""
    token = authorization.partition(" ")[2].strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])
