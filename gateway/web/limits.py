"""What one request may cost at the GraphQL edge: its body's bytes, its JSON's nesting and
variables, a WebSocket message's bytes, and its answer's bytes (HTTP and WebSocket alike).

Each limit refuses with an error the client can read (``REQUEST_TOO_LARGE``,
``MESSAGE_TOO_LARGE``, ``RESPONSE_TOO_LARGE``, or 400 for JSON nested too deep) and counts the
refusal (``Refused``: the metrics' ``refused``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from cross_web import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Send

from gateway.schema.limits import utf8_size_past

Refused = Callable[[str], None]
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


class BodyTooLarge(Exception):
    """A request's body (declared, or as it arrives) is over ``max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.message = str(self)


async def read_body(receive: Receive, content_length: bytes | None, limit: int) -> bytes:
    """A request's whole body (chunked or not), read no further than ``limit`` bytes."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise BodyTooLarge(limit)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect  # as Starlette's Request.body() does
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def check_json(parsed: object, limits: HttpLimits) -> None:
    """Refuses a parsed body (or GET's parameters) that nests deeper than ``max_body_depth``
    (400) or whose variables are over ``max_variables_bytes`` (413)."""
    limit = limits.max_body_depth
    if _nests_deeper(parsed, limit):
        raise HTTPException(400, f"the JSON nests deeper than {limit} levels")
    if isinstance(parsed, dict) and parsed.get("variables") is not None:
        size = len(orjson.dumps(parsed["variables"]))
        limit = limits.max_variables_bytes
        if size > limit:
            raise HTTPException(413, f"the variables are {size} bytes; at most {limit}")


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


class ResponseCap:
    """An operation's result, or RESPONSE_TOO_LARGE in its place when it is over
    ``max_bytes`` (HTTP and WebSocket alike)."""

    def __init__(self, max_bytes: int, refused: Refused) -> None:
        self._max = max_bytes
        self._refused = refused

    def fit(self, result: bytes) -> bytes:
        limit = self._max
        if len(result) <= limit:
            return result
        self._refused("RESPONSE_TOO_LARGE")
        message = f"the response is {len(result)} bytes; at most {limit}: ask for less"
        error = {"message": message, "extensions": {"code": "RESPONSE_TOO_LARGE"}}
        return orjson.dumps({"data": None, "errors": [error]})


def bounded_messages(receive: Receive, send: Send, limit: int, refused: Refused) -> Receive:
    """``receive`` of a WebSocket whose messages are at most ``limit`` bytes: a longer one
    closes the connection with 1009 (message too big) unread, as the server's protocol does
    when it inflates one."""

    async def bounded() -> Message:
        message = await receive()
        if message["type"] == "websocket.receive":
            data = message.get("text") or message.get("bytes") or b""
            if (
                len(data) > limit
                if isinstance(data, bytes)
                else utf8_size_past(data, limit) is not None
            ):
                refused("MESSAGE_TOO_LARGE")
                reason = f"a message may be at most {limit} bytes"
                await send({"type": "websocket.close", "code": TOO_BIG, "reason": reason})
                return {"type": "websocket.disconnect", "code": TOO_BIG}
        elif message["type"] == "websocket.disconnect" and message.get("code") == TOO_BIG:
            refused("MESSAGE_TOO_LARGE")  # the server's protocol refused it
        return message

    return bounded
