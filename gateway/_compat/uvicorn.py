"""uvicorn's surface that is not its documented API, used by the gateway's server
(``gateway/server``: ``http.py``, ``websocket.py``, ``graceful.py``).

- ``HttpToolsProtocol``, extended by ``GuardedHttpProtocol``: its httptools callbacks
  (``data_received``, ``on_message_begin``, ``on_headers_complete``, ``on_message_complete``,
  ``handle_websocket_upgrade``) and what they read: ``parser``, ``_should_upgrade()``,
  ``cycle`` (a ``RequestResponseCycle``: ``response_started``, ``response_complete``,
  ``disconnected``), ``server_state.default_headers``, ``transport``, ``loop``; and
  ``STATUS_LINE``, its status lines by code.
- ``WebSocketsSansIOProtocol``, extended by ``FramedWebSocketProtocol``: ``run_asgi`` and the
  state a frame may be sent in: ``conn`` (websockets' protocol), ``disconnected``,
  ``close_sent``, ``handshake_complete``, ``initial_response``, ``writable``, ``transport``.
- ``Server._serve``, which ``Server.serve`` runs inside ``capture_signals``: the graceful
  server opens its store between the two.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from gateway._compat import IncompatibleLibrary, expect_parameters

__all__ = ["STATUS_LINE", "HttpToolsProtocol", "ServerState", "WebSocketsSansIOProtocol", "check"]

LIBRARY = "uvicorn"
MODULE = "uvicorn"

HTTP_CALLBACKS = ("data_received", "on_message_begin", "on_headers_complete",
                  "on_message_complete", "handle_websocket_upgrade", "_should_upgrade")  # fmt: skip
HTTP_STATE = ("cycle", "parser", "transport", "loop", "server_state")
CYCLE_STATE = ("response_started", "response_complete", "disconnected")
WEBSOCKET_STATE = ("conn", "disconnected", "close_sent", "handshake_complete",
                   "initial_response", "writable", "transport")  # fmt: skip
STATUS_CODES = (408, 431)  # the ones GuardedHttpProtocol answers with itself


def check() -> None:
    def fail(what: str) -> None:
        raise IncompatibleLibrary(LIBRARY, what, MODULE)

    if not all(isinstance(STATUS_LINE.get(code), bytes) for code in STATUS_CODES):
        fail("httptools_impl.STATUS_LINE has no status line for 408 or 431")
    for name in HTTP_CALLBACKS:
        if not callable(getattr(HttpToolsProtocol, name, None)):
            fail(f"HttpToolsProtocol.{name} is gone")
    expect_parameters(LIBRARY, MODULE, HttpToolsProtocol, "data_received", ["self", "data"])
    expect_parameters(LIBRARY, MODULE, WebSocketsSansIOProtocol, "run_asgi", ["self"])
    expect_parameters(LIBRARY, MODULE, uvicorn.Server, "_serve", ["self", "sockets"])
    loop = asyncio.new_event_loop()
    try:
        config = uvicorn.Config(_app, log_config=None, ws="websockets-sansio")
        config.load()
        http = HttpToolsProtocol(config, ServerState(), {}, loop)
        socket = WebSocketsSansIOProtocol(config, ServerState(), {}, loop)
    finally:
        loop.close()
    for protocol, names in ((http, HTTP_STATE), (socket, WEBSOCKET_STATE)):
        missing = [name for name in names if not hasattr(protocol, name)]
        if missing:
            fail(f"{type(protocol).__name__} has no {', '.join(missing)}")
    cycle = RequestResponseCycle(
        scope={"type": "http"},  # type: ignore[typeddict-item]
        transport=None,  # type: ignore[arg-type]
        flow=None,  # type: ignore[arg-type]
        logger=logging.getLogger("uvicorn.error"),
        access_logger=logging.getLogger("uvicorn.access"),
        access_log=False,
        default_headers=[],
        message_event=None,  # type: ignore[arg-type]
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
    missing = [name for name in CYCLE_STATE if not hasattr(cycle, name)]
    if missing:
        fail(f"RequestResponseCycle has no {', '.join(missing)}")


async def _app(scope: Any, receive: Any, send: Any) -> None:
    return None
