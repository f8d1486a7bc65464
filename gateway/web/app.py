"""The ASGI application."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute

from gateway.auth import Authenticator
from gateway.domain.checksum import Verifier
from gateway.domain.cursors import CursorCodec
from gateway.metrics import Metrics
from gateway.schema import build_schema
from gateway.settings import Settings
from gateway.store.base import SessionStore
from gateway.store.sqlite import SqliteStore
from gateway.web.graphql import GraphQLView
from gateway.web.webhook import NimWebhooks

logger = logging.getLogger("gateway")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def open_store(settings: Settings) -> SessionStore:
    return SqliteStore(
        settings.sqlite_path(),
        readers=settings.sqlite_readers,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )


def create_app(
    settings: Settings,
    *,
    store: SessionStore | None = None,
    clock: Callable[[], int] = now_ms,
) -> Starlette:
    """The gateway. With ``store`` given, the caller opens and closes it; otherwise the app
    opens the store that ``settings`` names for its lifespan."""
    owns_store = store is None
    the_store = open_store(settings) if store is None else store
    view = GraphQLView(
        build_schema(),
        store=the_store,
        authenticator=Authenticator(settings),
        cursors=CursorCodec(settings.cursor_key()),
        clock=clock,
    )

    metrics = Metrics()
    webhooks = NimWebhooks(
        store=the_store,
        verifier=_verifier(settings),
        clock=clock,
        metrics=metrics,
        max_body_bytes=settings.webhook_max_body_bytes,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owns_store:
            await the_store.open()
        try:
            yield
        finally:
            if owns_store:
                await the_store.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    async def home(request: Request) -> Response:
        return RedirectResponse("/graphql")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/healthz", healthz),
            Route("/metrics", prometheus),
            *webhooks.routes(settings.nim_cc_path),
            # The view is an ASGI app, not a request handler: Route passes it the raw scope.
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
        ],
        lifespan=lifespan,
    )


def _verifier(settings: Settings) -> Verifier | None:
    if settings.nim_app_secret is None:
        logger.warning("GATEWAY_NIM_APP_SECRET is not set: the NIM webhooks answer 503")
        return None
    return Verifier(
        settings.nim_app_secret.get_secret_value(),
        max_skew_ms=settings.nim_max_clock_skew_s * 1000,
        app_key=settings.nim_app_key,
    )
