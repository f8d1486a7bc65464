"""The GraphQL view at /graphql: Strawberry's ASGI view, with its hooks wired to the gateway.

Over HTTP a request passes, in order: the proxy headers (uvicorn's middleware: the client
address behind a trusted proxy), authentication (its ``Authorization``, once: a bad or missing
token is no refusal, it is kept in the context), the anonymous budget (web/budget.py) and the
body limits (web/limits.py). Then a JSON POST of a query the schema runs compiled is answered
here (``_compiled_post``); anything else by Strawberry's ``run`` (GraphiQL, GET, mutations,
streams). Both answer alike (``_answer``): errors with their codes (schema/errors.py), GraphQL
over HTTP's status and media type (web/status.py), the response cap (web/limits.py).

Over a WebSocket: the message bound (web/limits.py), the connections per account and their
tokens' expiry (web/sockets.py), and the subprotocols (web/subprotocols.py)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.schema import BaseSchema
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway import graphiql
from gateway.auth import Authenticator
from gateway.domain.cursors import CursorCodec
from gateway.domain.groups import DEFAULT_LIMITS, GroupLimits
from gateway.errors import Unauthenticated
from gateway.live import ChangeNotifier
from gateway.metrics import Metrics
from gateway.schema import GatewaySchema
from gateway.schema.context import Context
from gateway.schema.errors import client_error
from gateway.schema.limits import RateLimiter
from gateway.store.base import SessionStore
from gateway.web.budget import AnonymousBudget
from gateway.web.limits import (
    BodyTooLarge,
    HttpLimits,
    ResponseCap,
    bounded_messages,
    check_json,
    read_body,
)
from gateway.web.sockets import SocketLimits, Sockets
from gateway.web.status import JSON, error_response, http_error, media_type, status_of
from gateway.web.subprotocols import LegacyWS, TextFrames, TransportWS

_POST = OperationType.from_http("POST")


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = TransportWS
    graphql_ws_handler_class = LegacyWS

    def __init__(
        self,
        schema: BaseSchema,
        *,
        store: SessionStore,
        authenticator: Authenticator,
        cursors: CursorCodec,
        clock: Callable[[], int],
        notifier: ChangeNotifier,
        limits: SocketLimits,
        http_limits: HttpLimits,
        rate_limiter: RateLimiter | None = None,
        metrics: Metrics | None = None,
        graphiql_page: graphiql.Page | None = None,
        frames: bool = True,
        group_limits: GroupLimits = DEFAULT_LIMITS,
    ) -> None:
        """With ``frames``, subscriptions send the events they compile as frames of their own
        (schema/frames.py); without, every event goes through Strawberry."""
        super().__init__(
            schema,
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
        self._event_queue_size = limits.event_queue_size
        self._max_message_bytes = limits.max_message_bytes
        self._http_limits = http_limits
        self._rate_limiter = rate_limiter
        self._metrics = metrics
        self._group_limits = group_limits
        self._graphiql_page = graphiql_page
        self.frames = frames
        self._refused = metrics.refused if metrics is not None else _uncounted
        self.response_cap = ResponseCap(http_limits.max_response_bytes, self._refused)
        self._budget = AnonymousBudget(rate_limiter, self._refused)
        self._sockets = Sockets(authenticator, clock, limits, self._refused)
        self._from_client = ProxyHeadersMiddleware(
            self._http,  # type: ignore[arg-type]
            trusted_hosts=list(http_limits.trusted_proxies),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._from_client(scope, receive, send)  # type: ignore[arg-type]
            return
        bounded = bounded_messages(receive, send, self._max_message_bytes, self._refused)
        try:
            await super().__call__(scope, bounded, send)
        finally:
            self._sockets.closed(id(scope))

    async def close_connections(self, code: int, reason: str) -> None:
        """Close every open WebSocket (at shutdown: 1001, going away)."""
        await self._sockets.close_all(code, reason)

    # HTTP --------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = _Head(scope)
        viewer, auth_error = await self._authenticate(head.authorization)
        # Without a valid token, the client's address pays, before the body is even read.
        if viewer is None and (refusal := self._budget.refusal(scope)) is not None:
            await refusal(scope, receive, send)
            return
        context = self._context(viewer, auth_error)
        try:
            body = await read_body(receive, head.content_length, self._http_limits.max_body_bytes)
            response = await self._compiled_post(head, body, context) or await self.run(
                Request(scope, receive=_replayed(body, receive)), context=context
            )
        except BodyTooLarge as e:
            self._refused("REQUEST_TOO_LARGE")
            response = error_response(413, "REQUEST_TOO_LARGE", e.message)
        except HTTPException as e:
            response = http_error(scope["method"], e)
            if response.status_code == 413:
                self._refused("REQUEST_TOO_LARGE")
        await response(scope, receive, send)

    async def _compiled_post(self, head: _Head, body: bytes, context: Context) -> Response | None:
        """The hot path: a JSON POST of a query the schema runs compiled, answered as
        Strawberry's view would (``run``: the same hooks, result processing and response), less
        what does not apply to it (GraphiQL, uploads, batches, streams, WebSockets, GET). None
        for any other request, which goes to ``run``."""
        if head.method != "POST" or head.content_type != "application/json":
            return None
        accept = head.accept
        if "multipart/" in accept or "text/event-stream" in accept:
            return None  # Strawberry decides about streamed responses
        data = self.parse_json(body)
        if not isinstance(data, dict):
            return None
        query, operation_name = data.get("query"), data.get("operationName")
        variables, extensions = data.get("variables"), data.get("extensions")
        if not (
            isinstance(query, str)
            and (operation_name is None or isinstance(operation_name, str))
            and (variables is None or isinstance(variables, dict))
            and (extensions is None or isinstance(extensions, dict))
            and isinstance(self.schema, GatewaySchema)
            and self.schema.is_compiled(query, operation_name)
        ):
            return None
        result = await self.schema.execute(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
            allowed_operation_types=_POST,
            operation_extensions=extensions,
        )
        return self._answer(self._processed(result), media_type(accept))

    def _answer(self, answer: GraphQLHTTPResponse, media: str) -> Response:
        """A processed result as the response GraphQL over HTTP gives it, capped in size."""
        status, headers = status_of(answer, media)
        body = self.response_cap.fit(self.encode_json(answer))
        return Response(body, status, headers, media_type=media)

    async def _authenticate(self, header: str | None) -> tuple[str | None, Unauthenticated | None]:
        try:
            return await self._authenticator.authenticated(header), None
        except Unauthenticated as e:
            return None, e

    def _context(
        self, viewer: str | None = None, auth_error: Unauthenticated | None = None
    ) -> Context:
        # Not refused without a viewer: GraphiQL and introspection work without a token;
        # every data field raises ``auth_error`` instead.
        return Context(
            store=self._store,
            cursors=self._cursors,
            clock=self._clock,
            notifier=self._notifier,
            event_queue_size=self._event_queue_size,
            viewer_id=viewer,
            auth_error=auth_error,
            rate_limiter=self._rate_limiter,
            metrics=self._metrics,
            group_limits=self._group_limits,
        )

    # Strawberry's hooks ------------------------------------------------------------------------

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if isinstance(request, WebSocket):
            context = self._context()  # authenticated in on_ws_connect, from connection_init
            self._sockets.opened(request, context)
            return context
        return self._context(*await self._authenticate(request.headers.get("authorization")))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        await self._sockets.admit(context)
        return None

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # The media type the answer is to have: create_response's to read.
        sub_response.media_type = media_type(request.headers.get("accept", ""))
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        media = sub_response.media_type or JSON
        if isinstance(response_data, list):  # a batch (not enabled)
            return Response(self.response_cap.fit(self.encode_json(response_data)),
                            media_type=media)  # fmt: skip
        return self._answer(response_data, media)

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        return self._processed(result)

    def _processed(self, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Strawberry skips extensions' on_operation exit when parsing fails, so syntax errors
        # get their code here.
        if result.errors:
            result.errors = [client_error(error) for error in result.errors]
        return process_result(result)

    def parse_json(self, data: str | bytes) -> object:
        parsed = super().parse_json(data)
        check_json(parsed, self._http_limits)
        return parsed

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise HTTPException(400, "the body is not JSON") from e

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def render_graphql_ide(self, request: Request) -> Response:
        if self._graphiql_page is None:
            return await super().render_graphql_ide(request)
        return Response(self._graphiql_page.html(), media_type="text/html")


class _Head:
    """What the view reads of a request's head, read in one pass (the first of each header)."""

    __slots__ = ("accept", "authorization", "content_length", "content_type", "method")

    def __init__(self, scope: Scope) -> None:
        self.method: str = scope["method"]
        found = dict(reversed(scope["headers"]))  # the first of each name wins
        authorization = found.get(b"authorization")
        self.authorization = None if authorization is None else authorization.decode("latin-1")
        self.content_type = found.get(b"content-type", b"").decode("latin-1")
        self.accept = found.get(b"accept", b"").decode("latin-1")
        self.content_length = found.get(b"content-length")


def _replayed(body: bytes, receive: Receive) -> Receive:
    """``receive`` whose first message is ``body``, read already; then the connection's."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _uncounted(code: str) -> None:
    pass
