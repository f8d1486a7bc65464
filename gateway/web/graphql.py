"""Strawberry's ASGI view, wired to our context, to orjson and to WebSocket auth and limits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from gateway.auth import Authenticator
from gateway.domain.cursors import CursorCodec
from gateway.errors import Unauthenticated
from gateway.live import ChangeNotifier
from gateway.schema.context import Context
from gateway.schema.errors import client_error
from gateway.store.base import SessionStore


@dataclass(frozen=True, slots=True)
class SocketLimits:
    allowed_origins: tuple[str, ...] = ()
    subscriptions_per_connection: int = 10
    connections_per_account: int = 20
    event_queue_size: int = 1000
    init_timeout: timedelta = timedelta(seconds=10)


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        schema: object,
        *,
        store: SessionStore,
        authenticator: Authenticator,
        cursors: CursorCodec,
        clock: Callable[[], int],
        notifier: ChangeNotifier,
        limits: SocketLimits,
    ) -> None:
        super().__init__(
            schema,  # type: ignore[arg-type]
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=limits.init_timeout,
            max_subscriptions_per_connection=limits.subscriptions_per_connection,
            allowed_origins=limits.allowed_origins,
        )
        self._store = store
        self._authenticator = authenticator
        self._cursors = cursors
        self._clock = clock
        self._notifier = notifier
        self._limits = limits
        self._connections: Counter[str] = Counter()
        self._socket_accounts: dict[int, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if (account := self._socket_accounts.pop(id(scope), None)) is not None:
                self._connections[account] -= 1
                if self._connections[account] <= 0:
                    del self._connections[account]

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(
            store=self._store,
            cursors=self._cursors,
            clock=self._clock,
            notifier=self._notifier,
            event_queue_size=self._limits.event_queue_size,
        )
        if isinstance(request, WebSocket):
            socket = request

            async def close(code: int, reason: str) -> None:
                await socket.close(code=code, reason=reason)

            context.close_connection = close
            context.socket_id = id(request.scope)
            return context  # authenticated in on_ws_connect, from connection_init
        try:
            context.viewer_id = self._authenticator.authenticate(
                request.headers.get("authorization")
            )
        except Unauthenticated as e:
            # Not refused here: GraphiQL and introspection work without a token; every data
            # field raises this error instead.
            context.auth_error = e
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        header = params.get("authorization", params.get("Authorization"))
        try:
            account = self._authenticator.authenticate(header if isinstance(header, str) else None)
        except Unauthenticated as e:
            raise ConnectionRejectionError({"code": e.code, "message": e.message}) from None
        limit = self._limits.connections_per_account
        if self._connections[account] >= limit:
            message = f"at most {limit} connections per account"
            raise ConnectionRejectionError({"code": "TOO_MANY_CONNECTIONS", "message": message})
        self._connections[account] += 1
        self._socket_accounts[context.socket_id] = account
        context.viewer_id = account
        return None

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # Strawberry skips extensions' on_operation exit when parsing fails, so syntax errors
        # get their code here.
        if result.errors:
            result.errors = [client_error(error) for error in result.errors]
        return process_result(result)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
