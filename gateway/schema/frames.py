"""Subscription events as finished WebSocket frames, sent by the subscription itself.

Strawberry runs each event of each subscription through graphql-core's executor, its extension
hooks and a JSON encoding: per event, per subscriber. A subscription whose selection compiles
(``gateway/fastpath``) skips all of that: the WebSocket handler gives the operation a
``FrameSink`` in its context (``Context.frames``: the socket, the sender the server offers for
sending at once, and the frame's opening for the operation's id and subprotocol), and the
subscription sends ``{..., "payload": {"data": ...}}`` frames on it directly. Subscriptions
of one document share an ``EventRenderer``, which serializes an event once for all the
subscriptions of its owner (one account's tabs and devices). An event the compiled selection
cannot complete goes the general way (the subscription yields it to Strawberry), and so does
every event where no sink is given (tracing on, or not over a WebSocket).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import orjson
import strawberry
from cachetools import LRUCache
from graphql import OperationDefinitionNode

from gateway._compat.strawberry import raw_info
from gateway.domain import sessions as domain
from gateway.fastpath import CompiledSubscription, compile_operation, directive_variables
from gateway.live import Event, Upserted
from gateway.schema.sync import graphql_event

logger = logging.getLogger(__name__)

_MEMO_SIZE = 256


@dataclass(frozen=True, slots=True)
class FrameSink:
    """A socket and the opening of its frames for one operation (``{"id":"1","type":"next",
    "payload":`` on graphql-transport-ws); a frame is the opening, the payload and ``}``. With
    ``send_text_now`` (server/websocket.py), frames can also go out at once, from a callback."""

    opening: bytes
    send_text: Callable[[str], Awaitable[None]]
    send_text_now: Callable[[list[bytes]], bool] | None = None

    @classmethod
    def of(
        cls,
        protocol_message: Mapping[str, object],
        send_text: Callable[[str], Awaitable[None]],
        send_text_now: Callable[[list[bytes]], bool] | None = None,
    ) -> FrameSink:
        """The sink whose frames are ``protocol_message`` (the keys before the payload, in the
        order the subprotocol's handler writes them) with the payload last."""
        opening = orjson.dumps({**protocol_message, "payload": None})[: -len(b"null}")]
        return cls(opening, send_text, send_text_now)

    async def send(self, payload: bytes) -> None:
        await self.send_text((self.opening + payload + b"}").decode())

    def send_now(self, payloads: list[bytes]) -> bool:
        """Sends the frames of ``payloads`` at once, or none (False: the socket cannot take
        them now, or there is no way to send at once): ``send`` them then."""
        if self.send_text_now is None:
            return False
        opening = self.opening
        return self.send_text_now([opening + payload + b"}" for payload in payloads])


class EventRenderer:
    """One subscription document's events as ``{"data": ...}`` JSON: compiled once, and each
    event serialized once however many subscriptions of its owner share the document."""

    def __init__(self, compiled: CompiledSubscription) -> None:
        self._compiled = compiled
        # By the event's session (one commit hands the same object to each of the owner's
        # subscriptions, one after another); each entry holds its session, so no other object
        # can take its id. Emptied when full: what it serves is the fan-out under way.
        self._memo: dict[int, tuple[domain.Session, bytes]] = {}

    def payload(self, event: Event, messages: Mapping[str, domain.Message]) -> bytes | None:
        """The event's payload, or None when the compiled selection cannot complete it (the
        general path then does, errors and all)."""
        session = event.session if isinstance(event, Upserted) else None
        if session is not None:
            known = self._memo.get(id(session))
            if known is not None and known[0] is session:
                return known[1]
        try:
            data = self._compiled.render(graphql_event(event, messages))
        except Exception:  # Deopt, or anything graphql-core would report as an error
            return None
        payload = orjson.dumps({"data": data})
        if session is not None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[id(session)] = (session, payload)
        return payload


# By operation node (held in the entry, so its id stays its own) and the values of the
# variables its directives read.
_renderers: LRUCache[tuple[object, ...], tuple[OperationDefinitionNode, EventRenderer | None]] = (
    LRUCache(maxsize=256)
)


def renderer_for(info: strawberry.Info) -> EventRenderer | None:
    """The shared renderer of the current subscription's document, or None when its selection
    does not compile."""
    raw = raw_info(info)
    # Strawberry hands resolvers the coerced values, not graphql-core's VariableValues.
    operation, variables = raw.operation, cast(dict[str, Any], raw.variable_values)
    read = directive_variables(operation, raw.fragments.values())
    key = (id(operation), *sorted((name, repr(variables.get(name))) for name in read))
    known = _renderers.get(key)
    if known is None or known[0] is not operation:
        try:
            compiled = compile_operation(raw.schema, operation, raw.fragments, variables)
        except Exception:  # a bug, or an internal that changed: events go through Strawberry
            logger.warning("could not compile a subscription; it runs uncompiled", exc_info=True)
            compiled = None
        renderer = EventRenderer(compiled) if isinstance(compiled, CompiledSubscription) else None
        known = (operation, renderer)
        _renderers[key] = known
    return known[1]
