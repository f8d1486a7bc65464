"""Strawberry's ASGI view, wired to our context, to orjson and to WebSocket auth and limits."""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import jwt
import orjson
from cross_web import HTTPException
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage as TransportInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway import graphiql
from gateway._compat.strawberry import OperationStreamClosed, pre_execution_close_reason
from gateway.auth import Authenticator
from gateway.domain.cursors import CursorCodec
from gateway.domain.groups import DEFAULT_LIMITS, GroupLimits
from gateway.errors import Unauthenticated
from gateway.heap import settling
from gateway.live import ChangeNotifier
from gateway.metrics import Metrics
from gateway.schema import GatewaySchema
from gateway.schema.context import Context
from gateway.schema.errors import client_error
from gateway.schema.frames import FrameSink
from gateway.schema.limits import RateLimiter, utf8_size_past
from gateway.schema.parking import Parking, ParkingRun
from gateway.server.websocket import SEND_TEXT_NOW
from gateway.store.base import SessionStore

GRAPHQL_RESPONSE = "application/graphql-response+json"
# WebSocket close code for a refused connection_init and for a token that expires (graphql-ws's
# Forbidden), on both subprotocols.
FORBIDDEN_CLOSE_CODE = 4403
TOO_BIG = 1009  # RFC 6455: a message too big to process


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_body_bytes: int = 65_536
    max_variables_bytes: int = 16_384
    max_body_depth: int = 32  # JSON nesting of a body (or GET's variables), variables included
    max_response_bytes: int = 8_388_608
    # Peers whose X-Forwarded-For names the client (IPs, CIDRs or "*"), as uvicorn's
    # --forwarded-allow-ips: the client address is what anonymous requests are budgeted by.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)


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


class _TextFrames(ASGIWebSocketAdapter):
    """graphql-transport-ws messages as text frames: orjson gives bytes, which Strawberry would
    send as binary frames, and browsers' graphql-ws closes the connection (4400) on those. An
    operation's result over the response size limit is sent as RESPONSE_TOO_LARGE in its
    place, as over HTTP."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        payload = message.get("payload")
        if (
            message.get("type") in ("next", "data")
            and payload is not None
            and isinstance(self.view, GraphQLView)
        ):
            result = self.view.fitting(orjson.dumps(payload))
            message = {**message, "payload": orjson.Fragment(result)}
        await self.send_text(orjson.dumps(message).decode())

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as e:
            raise WebSocketDisconnected from e


class _TransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, where a subscribe that does not parse gets an ``error`` message like
    any other refused operation (Strawberry closes the whole connection with 4400), where each
    operation runs with a context of its own, which may carry a ``FrameSink`` for the
    subscription to send its own ``next`` frames (schema/frames.py), and where a subscription
    may wait parked, without a task (schema/parking.py): its run of the operation ends with no
    ``complete``, the operation stays, and a later run goes on from where it stood (no token
    spent, not observed again)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # By operation id: its parking, and the contextvars its later runs start from (the
        # connection's request id, for their logs).
        self._parkings: dict[str, tuple[Parking, contextvars.Context]] = {}

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Strawberry's, with the operation's own context, and no ``complete`` for a run that
        ends parked."""
        parkings = self._parkings
        found = parkings.get(operation.id)
        if found is None:
            parking = Parking(partial(self._resume, operation))
            parkings[operation.id] = parking, contextvars.copy_context()
        else:
            parking = found[0]
        run = ParkingRun(parking, resumed=found is not None)
        frames = _frames(self.view, self.websocket, {"id": operation.id, "type": "next"})
        context = self.context.for_operation(frames, run)
        settling.run_started()
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            if not run.parked:  # parked, the operation stays registered, to run again
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
        finally:
            settling.run_ended()
            if run.parked and operation.task is asyncio.current_task():
                operation.task = None  # nothing runs it until it is resumed
            if not run.parked:  # the subscription ended
                parking.close()
                if parkings.get(operation.id, (None,))[0] is parking:
                    del parkings[operation.id]

    def _resume(self, operation: Operation[Context, None]) -> None:
        found = self._parkings.get(operation.id)
        if found is None or self.operations.get(operation.id) is not operation:
            return  # completed meanwhile
        task = asyncio.create_task(self.run_operation(operation), context=found[1].copy())
        operation.task = task
        task.add_done_callback(self._task_done)

    async def cleanup_operation(self, operation_id: str) -> None:
        operation = self.operations.get(operation_id)
        if operation is not None and operation.task is None:  # parked: no task to cancel
            del self.operations[operation_id]
        else:
            await super().cleanup_operation(operation_id)
        found = self._parkings.pop(operation_id, None)
        if found is not None:
            found[0].close()

    async def handle_connection_init(self, message: TransportInitMessage) -> None:
        await super().handle_connection_init(message)
        # Strawberry cancelled its timer and keeps the task to the end: a socket holds it no
        # longer (shutdown has nothing left to wait for).
        self.connection_init_timeout_task = None

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        if isinstance(error, GraphQLSyntaxError):
            return None
        return pre_execution_close_reason(error)


class _LegacyWS(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws subprotocol (the default of Python's gql), where a refused
    connection_init closes with 4403 as on graphql-transport-ws (Strawberry: 1011, which reads
    as a server fault that clients retry), and a second one with 4429 (Strawberry authenticated
    it again, counting the connection twice against the account's limit). Each operation runs
    with a context of its own, and a subscription may send its own ``data`` frames, as on
    graphql-transport-ws."""

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        """Strawberry's, with the operation's own context."""
        frames = _frames(self.view, self.websocket, {"type": "data", "id": operation_id})
        try:
            result_source = await self.schema.subscribe(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=self.context.for_operation(frames),
                root_value=self.root_value,
            )
            self.subscriptions[operation_id] = result_source
            first = True
            async for result in result_source:
                if first and isinstance(result, PreExecutionError):
                    assert result.errors
                    error = result.errors[0].formatted
                    await self.send_message({"type": "error", "id": operation_id,
                                             "payload": error})  # fmt: skip
                    return
                await self.send_data_message(result, operation_id)
                first = False
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.connection_acknowledged:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await super().handle_connection_init(message)  # connection_error, then close
            return
        self.context.connection_params = payload
        try:
            await self.view.on_ws_connect(self.context)  # ours acknowledges without a payload
        except ConnectionRejectionError as e:
            await self.send_message({"type": "connection_error", "payload": e.payload})
            await self.websocket.close(code=FORBIDDEN_CLOSE_CODE, reason="Forbidden")
            return
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())


def _frames(view: object, socket: object, opening: Mapping[str, object]) -> FrameSink | None:
    """Where an operation on ``socket`` sends its subscription's frames; None when the view
    sends every event through Strawberry."""
    if isinstance(view, GraphQLView) and view.frames and isinstance(socket, _TextFrames):
        # uvicorn with server/websocket.py's protocol offers to send at once
        send_now = (socket.ws.scope.get("extensions") or {}).get(SEND_TEXT_NOW)
        return FrameSink.of(opening, socket.send_text, send_now)
    return None


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = _TextFrames
    graphql_transport_ws_handler_class = _TransportWS
    graphql_ws_handler_class = _LegacyWS

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
        self._limits = limits
        self._http_limits = http_limits
        self._rate_limiter = rate_limiter
        self._metrics = metrics
        self._group_limits = group_limits
        self._graphiql_page = graphiql_page
        self.frames = frames
        self._connections: Counter[str] = Counter()
        self._socket_accounts: dict[int, str] = {}
        self._open_sockets: dict[int, WebSocket] = {}
        self._from_client = ProxyHeadersMiddleware(
            self._http_from_client,  # type: ignore[arg-type]
            trusted_hosts=list(http_limits.trusted_proxies),
        )
        # A timer per socket, not a task: an idle socket holds no coroutine for its token.
        self._expiry_timers: dict[int, asyncio.TimerHandle] = {}
        self._expiring: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._from_client(scope, receive, send)  # type: ignore[arg-type]
            return
        try:
            await super().__call__(scope, self._bounded(receive, send), send)
        finally:
            self._open_sockets.pop(id(scope), None)
            if (timer := self._expiry_timers.pop(id(scope), None)) is not None:
                timer.cancel()
            if (account := self._socket_accounts.pop(id(scope), None)) is not None:
                self._connections[account] -= 1
                if self._connections[account] <= 0:
                    del self._connections[account]

    def _bounded(self, receive: Receive, send: Send) -> Receive:
        """``receive`` of a WebSocket whose messages are at most ``max_message_bytes``: a longer
        one closes the connection with 1009 (message too big) unread, as the server's protocol
        does when it inflates one."""
        limit = self._limits.max_message_bytes

        async def bounded() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                data = message.get("text") or message.get("bytes") or b""
                if (
                    len(data) > limit
                    if isinstance(data, bytes)
                    else utf8_size_past(data, limit) is not None
                ):
                    self._refused("MESSAGE_TOO_LARGE")
                    reason = f"a message may be at most {limit} bytes"
                    await send({"type": "websocket.close", "code": TOO_BIG, "reason": reason})
                    return {"type": "websocket.disconnect", "code": TOO_BIG}
            elif message["type"] == "websocket.disconnect" and message.get("code") == TOO_BIG:
                self._refused("MESSAGE_TOO_LARGE")  # the server's protocol refused it
            return message

        return bounded

    async def close_connections(self, code: int, reason: str) -> None:
        """Close every open WebSocket (at shutdown: 1001, going away)."""
        for socket in list(self._open_sockets.values()):
            with suppress(Exception):  # already closing or gone
                await socket.close(code=code, reason=reason)

    async def _http_from_client(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive=_limited(receive, self._http_limits.max_body_bytes))
        viewer, auth_error = await self._authenticate(request.headers.get("authorization"))
        scope["gateway.viewer"] = (viewer, auth_error)
        # Without a valid token, the client's address pays, before the body is even read.
        if viewer is None and (wait := self._anonymous_wait(request)) is not None:
            retry_after = max(1, round(wait + 0.5))
            message = (
                f"too many requests without a token from this address: retry in {retry_after} s"
            )
            response = _error(429, "RATE_LIMITED", message, retryAfter=retry_after)
            response.headers["Retry-After"] = str(retry_after)
            self._refused("RATE_LIMITED")
            await response(scope, receive, send)
            return
        await self._http(request, scope, receive, send)

    def _refused(self, code: str) -> None:
        if self._metrics is not None:
            self._metrics.refused(code)

    async def _authenticate(self, header: str | None) -> tuple[str | None, Unauthenticated | None]:
        try:
            return await self._authenticator.authenticated(header), None
        except Unauthenticated as e:
            return None, e

    def _anonymous_wait(self, request: Request) -> float | None:
        if self._rate_limiter is None:
            return None
        address = request.client.host if request.client is not None else "unknown"
        return self._rate_limiter.take(address, "anonymous")

    async def _http(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        declared = request.headers.get("content-length", "")
        try:
            if declared.isdigit() and int(declared) > self._http_limits.max_body_bytes:
                raise _TooLarge
            response = await self._compiled_post(request) or await self.run(request)
            response = _conform(request, response)
        except _TooLarge:
            limit = self._http_limits.max_body_bytes
            response = _error(413, "REQUEST_TOO_LARGE", f"the body is larger than {limit} bytes")
            self._refused("REQUEST_TOO_LARGE")
        except HTTPException as e:
            response = _http_error(request, e)
            if response.status_code == 413:
                self._refused("REQUEST_TOO_LARGE")
        await self._capped(response)(scope, receive, send)

    async def _compiled_post(self, request: Request) -> Response | None:
        """The hot path: a JSON POST of a query the schema runs compiled, answered as
        Strawberry's view would (``run``: the same hooks, result processing and response), less
        what does not apply to it (GraphiQL, uploads, batches, streams, WebSockets, GET). None
        for any other request, which goes to ``run``."""
        if request.method != "POST" or request.headers.get("content-type") != "application/json":
            return None
        accept = request.headers.get("accept", "")
        if "multipart/" in accept or "text/event-stream" in accept:
            return None  # Strawberry decides about streamed responses
        data = self.parse_json(await request.body())  # Starlette keeps the body for run()
        if not isinstance(data, dict):
            return None
        query, operation_name = data.get("query"), data.get("operationName")
        variables, extensions = data.get("variables"), data.get("extensions")
        if not (
            isinstance(query, str)
            and (operation_name is None or isinstance(operation_name, str))
            and isinstance(variables, dict | None)
            and isinstance(extensions, dict | None)
            and isinstance(self.schema, GatewaySchema)
            and self.schema.is_compiled(query, operation_name)
        ):
            return None
        result = await self.schema.execute(
            query,
            variable_values=variables,
            context_value=await self._http_context(request),
            root_value=await self.get_root_value(request),  # type: ignore[func-returns-value]
            operation_name=operation_name,
            allowed_operation_types=OperationType.from_http("POST"),
            operation_extensions=extensions,
        )
        body = self.encode_json(await self.process_result(request, result))
        return Response(body, media_type="application/json")

    def _capped(self, response: Response) -> Response:
        """The response, or an error in its place when its body is over the size limit."""
        if isinstance(response, StreamingResponse):
            return response
        original = bytes(response.body)
        body = self.fitting(original)
        if body is original:
            return response
        return Response(body, response.status_code, media_type=response.media_type)

    def fitting(self, result: bytes) -> bytes:
        """An operation's ``result`` (JSON), or RESPONSE_TOO_LARGE in its place when it is over
        the response size limit (HTTP and WebSocket alike)."""
        limit = self._http_limits.max_response_bytes
        if len(result) <= limit:
            return result
        self._refused("RESPONSE_TOO_LARGE")
        message = f"the response is {len(result)} bytes; at most {limit}: ask for less"
        error = {"message": message, "extensions": {"code": "RESPONSE_TOO_LARGE"}}
        return orjson.dumps({"data": None, "errors": [error]})

    def parse_json(self, data: str | bytes) -> object:
        parsed = super().parse_json(data)
        limit = self._http_limits.max_body_depth
        if _nests_deeper(parsed, limit):
            raise HTTPException(400, f"the JSON nests deeper than {limit} levels")
        if isinstance(parsed, dict) and parsed.get("variables") is not None:
            size = len(orjson.dumps(parsed["variables"]))
            limit = self._http_limits.max_variables_bytes
            if size > limit:
                raise HTTPException(413, f"the variables are {size} bytes; at most {limit}")
        return parsed

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise HTTPException(400, "the body is not JSON") from e

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if isinstance(request, WebSocket):
            context = self._context()
            socket = request

            async def close(code: int, reason: str) -> None:
                await socket.close(code=code, reason=reason)

            context.close_connection = close
            context.socket_id = id(request.scope)
            self._open_sockets[context.socket_id] = socket
            return context  # authenticated in on_ws_connect, from connection_init
        return await self._http_context(request)

    async def _http_context(self, request: Request) -> Context:
        context = self._context()
        # Not refused here: GraphiQL and introspection work without a token; every data field
        # raises the error instead. (Authenticated once per request, in _http_from_client.)
        context.viewer_id, context.auth_error = request.scope.get("gateway.viewer") or (
            await self._authenticate(request.headers.get("authorization"))
        )
        return context

    def _context(self) -> Context:
        return Context(
            store=self._store,
            cursors=self._cursors,
            clock=self._clock,
            notifier=self._notifier,
            event_queue_size=self._limits.event_queue_size,
            rate_limiter=self._rate_limiter,
            metrics=self._metrics,
            group_limits=self._group_limits,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        header = params.get("authorization", params.get("Authorization"))
        try:
            account = await self._authenticator.authenticated(
                header if isinstance(header, str) else None
            )
        except Unauthenticated as e:
            raise ConnectionRejectionError({"code": e.code, "message": e.message}) from None
        limit = self._limits.connections_per_account
        if self._connections[account] >= limit:
            self._refused("TOO_MANY_CONNECTIONS")
            message = f"at most {limit} connections per account"
            raise ConnectionRejectionError({"code": "TOO_MANY_CONNECTIONS", "message": message})
        self._connections[account] += 1
        self._socket_accounts[context.socket_id] = account
        context.viewer_id = account
        context.connection_params = None  # read: the socket need not keep the token
        assert isinstance(header, str)  # authenticated
        delay = _expires_at(header) - self._clock() / 1000
        self._expiry_timers[context.socket_id] = asyncio.get_running_loop().call_later(
            delay, self._expire, context
        )
        return None

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

    async def render_graphql_ide(self, request: Request) -> Response:
        if self._graphiql_page is None:
            return await super().render_graphql_ide(request)
        return Response(self._graphiql_page.html(), media_type="text/html")

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # Strawberry skips extensions' on_operation exit when parsing fails, so syntax errors
        # get their code here.
        if result.errors:
            result.errors = [client_error(error) for error in result.errors]
            if result.data is None and all(error.path is None for error in result.errors):
                request.scope["gateway.request_error"] = True
            for error in result.errors:
                if error.extensions and error.extensions.get("code") == "RATE_LIMITED":
                    request.scope["gateway.retry_after"] = error.extensions.get("retryAfter")
        response = process_result(result)
        if request.scope.get("gateway.request_error") and _accepts_graphql_response(request):
            # GraphQL over HTTP: a request error (nothing executed) has no "data" entry at all.
            del response["data"]
        return response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def _expires_at(authorization: str) -> float:
    """The ``exp`` claim of a bearer token that has been verified."""
    token = authorization.partition(" ")[2].strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])


class _TooLarge(Exception):
    pass


def _limited(receive: Receive, max_bytes: int) -> Receive:
    """``receive`` that stops a body (chunked or not) once it passes ``max_bytes``."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise _TooLarge
        return message

    return limited


_HTTP_CODES = {400: "BAD_REQUEST", 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_TOO_LARGE",
               415: "UNSUPPORTED_MEDIA_TYPE"}  # fmt: skip


def _http_error(request: Request, error: HTTPException) -> Response:
    status, reason = error.status_code, error.reason
    if request.method == "GET" and "mutation" in reason.lower():
        status = 405  # GraphQL over HTTP: mutations only by POST
    elif reason == "Unsupported content type":
        status, reason = 415, "send application/json (POST) or query parameters (GET)"
    response = _error(status, _HTTP_CODES.get(status, "BAD_REQUEST"), reason)
    if status == 405:
        response.headers["Allow"] = "POST"
    return response


def _error(status: int, code: str, message: str, **extensions: object) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return Response(orjson.dumps(body), status, media_type="application/json")


def _nests_deeper(value: object, limit: int) -> bool:
    """Whether parsed JSON nests deeper than ``limit`` arrays and objects (without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _conform(request: Request, response: Response) -> Response:
    """GraphQL over HTTP: status codes and the media type the client asked for."""
    retry_after = request.scope.get("gateway.retry_after")
    if retry_after is not None:
        response.status_code = 429
        response.headers["Retry-After"] = str(retry_after)
    if _accepts_graphql_response(request):
        response.headers["content-type"] = GRAPHQL_RESPONSE
        # A request that never executed (parse, validation, variables) is the client's error.
        if request.scope.get("gateway.request_error") and response.status_code == 200:
            response.status_code = 400
    return response


def _accepts_graphql_response(request: Request | WebSocket) -> bool:
    return GRAPHQL_RESPONSE in request.headers.get("accept", "")
