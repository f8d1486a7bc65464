"""The two GraphQL-over-WebSocket subprotocols, as the gateway refines Strawberry's handlers:
graphql-transport-ws (``TransportWS``) and the legacy graphql-ws (``LegacyWS``), over a socket
that sends text frames and caps results (``TextFrames``).

Each operation runs with a context of its own (``Context.for_operation``), which carries the
operation's ``FrameSink``: the socket, with the sender the server offers for sending at once
(server/websocket.py's ``SEND_TEXT_NOW``), under the frame opening of the operation's id and
subprotocol. A subscription whose events compile sends them there itself (schema/frames.py),
from its task or from the notifier's fan-out (gateway/live.py)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping
from contextlib import aclosing, suppress
from functools import partial
from typing import Any, Protocol, cast

import orjson
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage as TransportInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage
from strawberry.types.execution import PreExecutionError

from gateway._compat.strawberry import OperationStreamClosed, pre_execution_close_reason
from gateway.heap import settling
from gateway.schema.context import Context
from gateway.schema.frames import FrameSink
from gateway.schema.parking import Parking, ParkingRun
from gateway.server.websocket import SEND_TEXT_NOW
from gateway.web.limits import ResponseCap
from gateway.web.sockets import FORBIDDEN_CLOSE_CODE


class View(Protocol):
    """What the handlers use of the view (web/graphql.py) besides Strawberry's."""

    frames: bool  # subscriptions may send frames of their own (False: all through Strawberry)
    response_cap: ResponseCap


class TextFrames(ASGIWebSocketAdapter):
    """graphql-transport-ws messages as text frames: orjson gives bytes, which Strawberry would
    send as binary frames, and browsers' graphql-ws closes the connection (4400) on those. An
    operation's result over the response size limit is sent as RESPONSE_TOO_LARGE in its
    place, as over HTTP."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        payload = message.get("payload")
        if message.get("type") in ("next", "data") and payload is not None:
            result = cast(View, self.view).response_cap.fit(orjson.dumps(payload))
            message = {**message, "payload": orjson.Fragment(result)}
        await self.send_text(orjson.dumps(message).decode())

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as e:
            raise WebSocketDisconnected from e


class TransportWS(BaseGraphQLTransportWSHandler[Context, None]):
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


class LegacyWS(BaseGraphQLWSHandler[Context, None]):
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
    if cast(View, view).frames and isinstance(socket, TextFrames):
        # uvicorn with server/websocket.py's protocol offers to send at once
        send_now = (socket.ws.scope.get("extensions") or {}).get(SEND_TEXT_NOW)
        return FrameSink.of(opening, socket.send_text, send_now)
    return None
