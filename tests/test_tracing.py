"""Optional OpenTelemetry tracing: one trace per request, joined to the caller's, with the
GraphQL operation and each store call inside it; nothing at all when it is not configured."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import tracing
from gateway.auth import issue_token
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.helpers import APP_SECRET, cc_message, post_signed

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(
    settings: Settings, store: SessionStore, clock: Clock, exported: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    app = create_app(settings, store=store, clock=clock, tracer_provider=provider)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        yield http


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


async def test_a_query_is_one_trace_joined_to_the_callers_with_its_store_calls(
    traced: httpx.AsyncClient, settings: Settings, exported: InMemorySpanExporter
) -> None:
    response = await traced.post(
        "/graphql",
        json={"query": "query Page { sessions { edges { node { key } } } }"},
        headers={
            "Authorization": f"Bearer {issue_token(settings, 'alice')}",
            "traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01",
        },
    )
    assert response.status_code == 200
    spans = by_name(exported.get_finished_spans())
    assert {"POST /graphql", "GraphQL Query: Page", "store.list_sessions"} <= set(spans)
    assert {format(span.context.trace_id, "032x") for span in spans.values()} == {CALLER_TRACE}
    assert spans["GraphQL Query: Page"] in ancestors(spans["store.list_sessions"], spans)


def ancestors(span: ReadableSpan, spans: dict[str, ReadableSpan]) -> list[ReadableSpan]:
    by_id = {s.context.span_id: s for s in spans.values()}
    found = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        found.append(span)
    return found


async def test_webhooks_are_traced_and_probes_are_not(
    traced: httpx.AsyncClient, clock: Clock, exported: InMemorySpanExporter
) -> None:
    await traced.get("/healthz")
    await traced.get("/metrics")
    response = await post_signed(traced, "/nim/cc", cc_message("m1", "bob", "alice", clock.now),
                                 clock.now, secret=APP_SECRET)  # fmt: skip
    assert response.status_code == 200
    names = {span.name for span in exported.get_finished_spans()}
    assert {"POST /nim/cc", "store.record_message"} <= names
    assert not any("healthz" in name or "metrics" in name for name in names)


async def test_a_failed_store_call_is_an_error_span(
    traced: httpx.AsyncClient, store: SessionStore, exported: InMemorySpanExporter
) -> None:
    await store.close()
    assert (await traced.get("/readyz")).status_code == 503
    span = by_name(exported.get_finished_spans())["store.is_empty"]
    assert not span.status.is_ok
    assert [event.name for event in span.events] == ["exception"]


def test_tracing_is_off_unless_an_endpoint_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing.provider_from_environment() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    provider = tracing.provider_from_environment()
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "session-gateway"
    provider.shutdown()
