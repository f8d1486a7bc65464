"""The ASGI application."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute

from gateway import graphiql, tracing
from gateway.auth import Authenticator
from gateway.domain.checksum import Verifier
from gateway.domain.cursors import CursorCodec
from gateway.live import ChangeNotifier
from gateway.logs import RequestIdMiddleware
from gateway.metrics import Metrics
from gateway.schema import build_schema
from gateway.schema.limits import QueryLimits, RateLimit, RateLimiter
from gateway.settings import Settings
from gateway.store import open_store
from gateway.store.base import SessionStore
from gateway.store.instrumented import instrumented
from gateway.web.graphql import GraphQLView, HttpLimits, SocketLimits
from gateway.web.webhook import NimWebhooks

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger("gateway")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def create_app(
    settings: Settings,
    *,
    store: SessionStore | None = None,
    clock: Callable[[], int] = now_ms,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """The gateway. With ``store`` given, the caller opens and closes it; otherwise the app
    opens the store that ``settings`` names for its lifespan. Tracing is on with a
    ``tracer_provider``, or when OpenTelemetry's OTLP endpoint variables are set."""
    owns_store = store is None
    owns_provider = tracer_provider is None
    provider = tracing.provider_from_environment() if tracer_provider is None else tracer_provider
    metrics = Metrics()
    the_store = instrumented(
        open_store(settings) if store is None else store,
        metrics.store_observer,
        provider.get_tracer("gateway.store") if provider is not None else None,
    )
    notifier = ChangeNotifier()
    the_store.add_listener(notifier)
    limits = QueryLimits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_query_aliases,
        max_tokens=settings.max_query_tokens,
        max_total_first=settings.max_total_first,
    )
    rate_limiter = RateLimiter(
        reads=RateLimit(settings.rate_limit_reads_per_minute, settings.rate_limit_reads_burst),
        writes=RateLimit(settings.rate_limit_writes_per_minute, settings.rate_limit_writes_burst),
        anonymous=RateLimit(
            settings.rate_limit_anonymous_per_minute, settings.rate_limit_anonymous_burst
        ),
    )
    view = GraphQLView(
        build_schema(
            limits, introspection=settings.introspection, metrics=metrics, tracer_provider=provider
        ),
        store=the_store,
        authenticator=Authenticator(settings),
        cursors=CursorCodec(settings.cursor_key()),
        clock=clock,
        notifier=notifier,
        rate_limiter=rate_limiter,
        metrics=metrics,
        graphiql_page=_graphiql_page(settings),
        http_limits=HttpLimits(
            max_body_bytes=settings.max_body_bytes,
            max_variables_bytes=settings.max_variables_bytes,
            max_body_depth=settings.max_body_depth,
            max_response_bytes=settings.max_response_bytes,
            trusted_proxies=settings.proxies(),
        ),
        limits=SocketLimits(
            allowed_origins=settings.origins(),
            subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
            connections_per_account=settings.ws_max_connections_per_account,
            event_queue_size=settings.ws_event_queue_size,
        ),
    )

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
            try:
                await the_store.open()
            except BaseException:
                with suppress(Exception):
                    await the_store.close()  # a half-open store's threads keep a process alive
                raise
        purger = asyncio.create_task(_purge_tombstones(the_store, settings, clock))
        try:
            yield
        finally:
            purger.cancel()
            with suppress(asyncio.CancelledError):
                await purger
            if owns_store:
                await the_store.close()
            if owns_provider and provider is not None:
                provider.shutdown()  # flush the spans still batched

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        # Ready once the store answers: it is open, reachable, and its migrations are applied.
        try:
            await asyncio.wait_for(the_store.is_empty(), _READY_TIMEOUT_S)
        except Exception as e:  # any failure means "do not send traffic here"
            logger.warning("not ready: %s", e)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    graphiql_dir = Path(settings.graphiql_dir)

    async def graphiql_asset(request: Request) -> Response:
        path = graphiql.asset_path(graphiql_dir, request.path_params["asset"])
        if path is None or not path.is_file():
            return JSONResponse({"error": "no such asset"}, status_code=404)
        return FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})

    async def home(request: Request) -> Response:
        return RedirectResponse("/graphql")

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphiql/assets/{asset:path}", graphiql_asset),
            Route("/metrics", prometheus),
            *webhooks.routes(settings.nim_cc_path),
            # The view is an ASGI app, not a request handler: Route passes it the raw scope.
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
        ],
        lifespan=lifespan,
        middleware=[
            *_tracing_middleware(provider),
            Middleware(RequestIdMiddleware),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.origins(),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept"],
                max_age=600,
            ),
        ],
    )
    app.state.close_connections = view.close_connections
    return app


def _tracing_middleware(provider: TracerProvider | None) -> list[Middleware]:
    if provider is None:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return [
        Middleware(
            OpenTelemetryMiddleware,
            tracer_provider=provider,
            excluded_urls=tracing.UNTRACED_PATHS,
        )
    ]


def _verifier(settings: Settings) -> Verifier | None:
    if settings.nim_app_secret is None:
        logger.warning("GATEWAY_NIM_APP_SECRET is not set: the NIM webhooks answer 503")
        return None
    return Verifier(
        settings.nim_app_secret.get_secret_value(),
        max_skew_ms=settings.nim_max_clock_skew_s * 1000,
        app_key=settings.nim_app_key,
    )


_PURGE_EVERY_S = 3600
_READY_TIMEOUT_S = 2


async def _purge_tombstones(
    store: SessionStore, settings: Settings, clock: Callable[[], int]
) -> None:
    """Forget deletions older than the retention, hourly; sync tokens from before them expire."""
    retention_ms = int(settings.tombstone_retention_days * 86_400_000)
    while True:
        try:
            await store.purge_tombstones(clock() - retention_ms)
        except Exception:
            logger.exception("purging tombstones failed; trying again in an hour")
        await asyncio.sleep(_PURGE_EVERY_S)


def app_from_environment() -> Starlette:
    """The app as a worker process builds it (``gateway serve --workers N``)."""
    return create_app(Settings())


def _graphiql_page(settings: Settings) -> str | None:
    """GraphiQL from the gateway's own copy of its assets; None for Strawberry's CDN page."""
    if graphiql.installed(Path(settings.graphiql_dir)):
        return graphiql.local_page()
    if settings.graphiql_cdn:
        logger.info(
            "GraphiQL loads from the public CDN: run `gateway install-graphiql` to serve it"
        )
        return None
    return (
        "<!doctype html><title>GraphiQL</title><p>GraphiQL's assets are not installed here. "
        "Run <code>gateway install-graphiql</code>, or set GATEWAY_GRAPHIQL_CDN=true.</p>"
    )
