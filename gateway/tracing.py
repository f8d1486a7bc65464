"""Optional OpenTelemetry tracing, on when an OTLP endpoint is configured with OpenTelemetry's own
variables (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES and the exporter's headers and timeouts as usual), off and free otherwise.

Spans: each HTTP request and WebSocket connection (ASGI middleware; an incoming W3C
`traceparent` joins the caller's trace), GraphQL parsing, validation, the operation and its
resolvers (Strawberry's extension), and each store call (``store.list_sessions``, ...).
Needs the ``otel`` extra: ``pip install 'session-gateway[otel]'``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from gateway.errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

SERVICE_NAME = "session-gateway"
# Probes and scrapes would drown the traces that matter.
UNTRACED_PATHS = "/healthz,/readyz,/metrics"


def endpoint_configured() -> bool:
    return any(
        os.environ.get(name)
        for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def provider_from_environment() -> TracerProvider | None:
    """A provider exporting over OTLP/HTTP in batches, or None when no endpoint is configured."""
    if not endpoint_configured():
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as e:
        raise ConfigurationError(
            "an OTLP endpoint is configured but OpenTelemetry is not installed: "
            "pip install 'session-gateway[otel]'"
        ) from e
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


@asynccontextmanager
async def flushed(provider: TracerProvider | None) -> AsyncIterator[None]:
    """Shut ``provider`` down on the way out, which exports the spans still batched."""
    try:
        yield
    finally:
        if provider is not None:
            provider.shutdown()
