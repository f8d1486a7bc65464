"""HTTP/1.1 connections with the bounds uvicorn's httptools protocol lacks.

uvicorn (httptools) keeps every header line a client sends, gives a request head or body
unlimited time, and never times out a connection that sends nothing. ``GuardedHttpProtocol``
adds, per connection:

- a size limit on the request head (request line and headers): 431, then close;
- a deadline for the whole head, from the connection's or the request's first byte: 408, close;
- a deadline for the whole body, from the end of its head: 408, close.

It is uvicorn's own protocol otherwise (keep-alive, pipelining, WebSocket upgrades).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import uvicorn

from gateway._compat.uvicorn import STATUS_LINE, HttpToolsProtocol, ServerState


@dataclass(frozen=True)
class ConnectionLimits:
    max_head_bytes: int = 32_768
    head_timeout_s: float = 10
    body_timeout_s: float = 30


_END_OF_HEAD = b"\r\n\r\n"


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits: ConnectionLimits = getattr(config, "connection_limits", ConnectionLimits())
        self._in_head = True  # between requests too: the next bytes start a head
        self._head_started = False
        self._head_bytes = 0  # received since this head began
        self._head_tail = b""  # its last bytes: the blank line may straddle two chunks
        self._in_body = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte gets the head's time, too.
        self._arm(self._limits.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head and self._head_too_large(data):
            self._reply_and_close(431)
            return
        super().data_received(data)
        if self.transport.is_closing():
            return
        # What is left unfinished after this chunk has until its deadline (set once per phase).
        if self._in_head and self._head_started:
            self._arm(self._limits.head_timeout_s)
        elif self._in_body:
            self._arm(self._limits.body_timeout_s)

    def _head_too_large(self, data: bytes) -> bool:
        # Count only the head: a body sent in the same chunk is not part of it. (A pipelined
        # head that starts mid-chunk is counted from the next chunk on: still bounded.)
        seen = self._head_tail + data
        end = seen.find(_END_OF_HEAD)
        in_this_chunk = len(data) if end < 0 else end + len(_END_OF_HEAD) - len(self._head_tail)
        size = self._head_bytes + in_this_chunk
        self._head_bytes += len(data)
        self._head_tail = seen[-(len(_END_OF_HEAD) - 1) :]
        return size > self._limits.max_head_bytes

    # httptools callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        upgrading = self.parser.should_upgrade() and self._should_upgrade()
        self._in_body = not upgrading
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False
        self._disarm()
        self._in_head, self._head_started, self._head_bytes, self._head_tail = True, False, 0, b""

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the WebSocket protocol takes over the connection
        super().handle_websocket_upgrade()

    # Deadlines -------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self._in_head and not self._head_started:
            self.transport.close()  # nothing asked: nothing to answer
            return
        self._reply_and_close(408)

    def _reply_and_close(self, status: int) -> None:
        # Answer only a request that has no answer yet: never after or inside another response.
        cycle = self.cycle
        if self._in_body:
            unanswered = not cycle.response_started
            if not cycle.response_complete:
                cycle.disconnected = True  # the app's receive() ends; its sends go nowhere
        else:  # the head of the next request: the previous one must be answered in full
            unanswered = cycle is None or cycle.response_complete
        if unanswered:
            defaults = self.server_state.default_headers
            head = [
                STATUS_LINE[status],
                *(name + b": " + value + b"\r\n" for name, value in defaults),
            ]
            head.append(b"content-length: 0\r\nconnection: close\r\n\r\n")
            self.transport.write(b"".join(head))
        self.transport.close()
