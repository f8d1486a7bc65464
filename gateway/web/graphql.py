"""Strawberry's ASGI view, wired to our context and to orjson."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionResult

from gateway.auth import Authenticator
from gateway.domain.cursors import CursorCodec
from gateway.errors import Unauthenticated
from gateway.schema.context import Context
from gateway.schema.errors import client_error
from gateway.store.base import SessionStore


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        schema: object,
        *,
        store: SessionStore,
        authenticator: Authenticator,
        cursors: CursorCodec,
        clock: Callable[[], int],
    ) -> None:
        super().__init__(schema)  # type: ignore[arg-type]
        self._store = store
        self._authenticator = authenticator
        self._cursors = cursors
        self._clock = clock

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(store=self._store, cursors=self._cursors, clock=self._clock)
        try:
            context.viewer_id = self._authenticator.authenticate(
                request.headers.get("authorization")
            )
        except Unauthenticated as e:
            # Not refused here: GraphiQL and introspection work without a token; every data
            # field raises this error instead.
            context.auth_error = e
        return context

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
