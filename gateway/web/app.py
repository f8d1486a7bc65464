"""The ASGI application."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import graphiql, heap, tracing
from gateway.auth import Authenticator
from gateway.domain.checksum import Verifier
from gateway.domain.cursors import CursorCodec
from gateway.live import ChangeNotifier
from gateway.logs import RequestIdMiddleware, configure_logging, request_id, request_id_of
from gateway.metrics import Metrics
from gateway.schema import build_schema
from gateway.schema.limits import QueryLimits, RateLimit, RateLimiter
from gateway.settings import Settings
from gateway.store import open_store
from gateway.store.base import SessionStore
from gateway.store.instrumented import instrumented
from gateway.web.cors import HintingCORSMiddleware
from gateway.web.graphql import GraphQLView
from gateway.web.limits import HttpLimits
from gateway.web.sockets import SocketLimits
from gateway.web.webhook import NimWebhooks

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger("gateway")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def create_app(
    settings: Settings,
    store: SessionStore,
    *,
    clock: Callable[[], int] = now_ms,
    tracer_provider: TracerProvider | None = None,
    lifespan: Sequence[AbstractAsyncContextManager[object]] = (),
) -> Starlette:
    """The gateway serving ``store``, which is open while the app serves: opened by the caller,
    or by one of ``lifespan``, the contexts the app's lifespan enters first, in order, and leaves
    last. Tracing is on with a ``tracer_provider``."""
    metrics = Metrics()
    the_store = instrumented(
        store,
        metrics.store_observer,
        None if tracer_provider is None else tracer_provider.get_tracer("gateway.store"),
    )
    notifier = ChangeNotifier()
    the_store.add_listener(notifier)
    limits = QueryLimits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_query_aliases,
        max_tokens=settings.max_query_tokens,
        max_total_first=settings.max_total_first,
        max_document_bytes=settings.max_document_bytes,
        max_errors=settings.max_query_errors,
    )
    rate_limiter = RateLimiter(
        reads=RateLimit(settings.rate_limit_reads_per_minute, settings.rate_limit_reads_burst),
        writes=RateLimit(settings.rate_limit_writes_per_minute, settings.rate_limit_writes_burst),
        anonymous=RateLimit(
            settings.rate_limit_anonymous_per_minute, settings.rate_limit_anonymous_burst
        ),
    )
    authenticator = Authenticator(settings)
    graphiql_page = graphiql.Page(
        graphiql.directory(settings.graphiql_dir), cdn=settings.graphiql_cdn
    )
    notices = graphiql_page.notices()
    verifier = _verifier(settings)
    if verifier is None:
        notices.append("GATEWAY_NIM_APP_SECRET is not set: the NIM webhooks answer 503")
    view = GraphQLView(
        build_schema(
            limits,
            introspection=settings.introspection,
            metrics=metrics,
            tracer_provider=tracer_provider,
        ),
        store=the_store,
        authenticator=authenticator,
        cursors=CursorCodec(settings.cursor_key()),
        clock=clock,
        notifier=notifier,
        rate_limiter=rate_limiter,
        metrics=metrics,
        graphiql_page=graphiql_page,
        group_limits=settings.group_limits(),
        # Traced, every event goes through Strawberry, which traces its resolution.
        frames=tracer_provider is None,
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
            max_message_bytes=settings.ws_max_message_bytes,
        ),
    )

    webhooks = NimWebhooks(
        store=the_store,
        verifier=verifier,
        clock=clock,
        metrics=metrics,
        max_body_bytes=settings.webhook_max_body_bytes,
        max_event_ahead_ms=settings.nim_max_event_ahead_s * 1000,
        on_stored=notifier.messages.remember,
        dead_letter_limit=settings.dead_letter_limit,
    )

    @asynccontextmanager
    async def serving(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for context in lifespan:
                await stack.enter_async_context(context)
            # Said once, when the gateway starts serving (a start that fails says only why).
            for notice in notices:
                logger.warning(notice)
            await authenticator.prefetch_keys()  # a failure is logged; it never stops a start
            await stack.enter_async_context(_purging_tombstones(the_store, settings, clock))
            yield

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

    async def graphiql_asset(request: Request) -> Response:
        path = graphiql.asset_path(graphiql_page.directory, request.path_params["asset"])
        if path is None or not path.is_file():
            return JSONResponse({"error": "no such asset"}, status_code=404)
        return FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})

    async def home(request: Request) -> Response:
        return RedirectResponse("/graphql")

    app = _App(
        None if tracer_provider is not None else view,
        routes=[
            # The view is an ASGI app, not a request handler: Route passes it the raw scope.
            # First: the router tries each route in turn, and nearly every request is for it.
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/", home),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphiql/assets/{asset:path}", graphiql_asset),
            Route("/metrics", prometheus),
            *webhooks.routes(settings.nim_cc_path),
        ],
        lifespan=serving,
        middleware=[
            *_tracing_middleware(tracer_provider),
            Middleware(RequestIdMiddleware),
            Middleware(
                HintingCORSMiddleware,
                allow_origins=settings.origins(),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept"],
                max_age=600,
            ),
        ],
    )
    app.state.close_connections = view.close_connections
    return app


class _App(Starlette):
    """The app, where /graphql goes straight to the view (``graphql``). A WebSocket skips the
    middleware and the router: CORS and the request id's echo apply to HTTP only, and each of
    their calls would stay suspended for as long as the socket is open. A GET or POST goes
    through the middleware given (the request id, CORS) but not Starlette's own around it (its
    500 page and exception handlers: the view answers its errors itself, and uvicorn a crash)
    nor the router. (With tracing on, every request goes the whole way, to be traced.)"""

    def __init__(
        self, graphql: ASGIApp | None, *, middleware: Sequence[Middleware] = (), **kwargs: Any
    ) -> None:
        super().__init__(middleware=middleware, **kwargs)
        self._graphql = graphql
        self._requests = None if graphql is None else _wrapped(graphql, middleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        graphql, requests, kind = self._graphql, self._requests, scope["type"]
        if graphql is None or requests is None or kind == "lifespan" or scope["path"] != "/graphql":
            await super().__call__(scope, receive, send)
        elif kind == "http" and scope["method"] in _GRAPHQL_METHODS:
            scope["app"] = self
            await requests(scope, receive, send)
        elif kind == "websocket":
            scope["app"] = self
            token = request_id.set(request_id_of(scope))
            try:
                await graphql(scope, receive, send)
            finally:
                request_id.reset(token)
        else:
            await super().__call__(scope, receive, send)


_GRAPHQL_METHODS = frozenset({"GET", "POST"})


def _wrapped(app: ASGIApp, middleware: Sequence[Middleware]) -> ASGIApp:
    """``app`` inside ``middleware``, the first outermost, as Starlette stacks them."""
    for cls, args, kwargs in reversed(middleware):
        app = cls(app, *args, **kwargs)
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
        return None
    return Verifier(
        settings.nim_app_secret.get_secret_value(),
        max_skew_ms=settings.nim_max_clock_skew_s * 1000,
        app_key=settings.nim_app_key,
    )


_PURGE_EVERY_S = 3600
_READY_TIMEOUT_S = 2


@asynccontextmanager
async def _purging_tombstones(
    store: SessionStore, settings: Settings, clock: Callable[[], int]
) -> AsyncIterator[None]:
    """Forget deletions older than the retention, hourly; sync tokens from before them expire."""
    retention_ms = int(settings.tombstone_retention_days * 86_400_000)

    async def purge() -> None:
        while True:
            try:
                await store.purge_tombstones(clock() - retention_ms)
            except Exception:
                logger.exception("purging tombstones failed; trying again in an hour")
            await asyncio.sleep(_PURGE_EVERY_S)

    purger = asyncio.create_task(purge())
    try:
        yield
    finally:
        purger.cancel()
        with suppress(asyncio.CancelledError):
            await purger


def served_app(
    settings: Settings,
    store: SessionStore,
    *,
    lifespan: Sequence[AbstractAsyncContextManager[object]] = (),
) -> Starlette:
    """The app as ``gateway serve`` runs it: traced when OpenTelemetry's OTLP variables name an
    endpoint (the spans still batched are exported at shutdown), with what start-up built frozen
    out of the garbage collector's way (gateway/heap.py)."""
    provider = tracing.provider_from_environment()
    contexts = [*lifespan, tracing.flushed(provider), heap.frozen_after_start()]
    return create_app(settings, store, tracer_provider=provider, lifespan=contexts)


def app_from_environment() -> Starlette:
    """The app as a worker process builds it (``gateway serve --workers N``): it opens its own
    store for its lifespan, and logs as the parent does."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    store = open_store(settings)
    return served_app(settings, store, lifespan=[store])
