"""uvicorn's configuration as the gateway serves: its HTTP and WebSocket protocols, its loop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from gateway.server.http import ConnectionLimits, GuardedHttpProtocol
from gateway.server.websocket import FramedWebSocketProtocol
from gateway.settings import Settings


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, serving with :class:`GuardedHttpProtocol` under ``limits``,
    WebSockets with server/websocket.py's protocol (subscriptions may send frames at once), on
    uvloop's loop with server/listener.py's way of accepting connections (all that wait)."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        kwargs.setdefault("ws", FramedWebSocketProtocol)
        super().__init__(app, http=GuardedHttpProtocol, **kwargs)
        self.connection_limits = limits

    def get_loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        if sys.platform == "win32":  # no uvloop (pyproject.toml): asyncio's loop accepts them all
            return super().get_loop_factory()
        from gateway.server.listener import new_event_loop  # imports uvloop

        return new_event_loop


def server_config(settings: Settings, app: object, **options: Any) -> ServerConfig:
    """The configuration ``gateway serve`` runs ``app`` with (an app, or an import string)."""
    limits = ConnectionLimits(
        max_head_bytes=settings.http_max_header_bytes,
        head_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
    )
    return ServerConfig(
        app,
        limits=limits,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        timeout_keep_alive=settings.http_keep_alive_timeout_s,
        limit_concurrency=settings.http_max_connections or None,
        ws_max_size=settings.ws_max_message_bytes,  # bounds inflating, too (permessage-deflate)
        **options,
    )
