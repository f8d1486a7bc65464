"""Prometheus metrics, one registry per app."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from graphql import GraphQLError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Operation names are the client's: past this many (name, type) pairs, the rest are looked up
# per request instead of kept.
_TIMERS_KEPT = 1024
# The codes of requests refused for what they would cost (size, cost, budget), counted apart.
REFUSALS = frozenset({
    "REQUEST_TOO_LARGE", "QUERY_TOO_LARGE", "MESSAGE_TOO_LARGE", "QUERY_TOO_DEEP",
    "TOO_MANY_ALIASES", "QUERY_TOO_COSTLY", "RATE_LIMITED", "RESPONSE_TOO_LARGE",
    "TOO_MANY_CONNECTIONS",
})  # fmt: skip
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhook_events = Counter(
            "gateway_webhook_events",
            "NIM webhook requests by event type and outcome.",
            ["event_type", "outcome"],
            registry=self.registry,
        )
        self.skipped_messages = Counter(
            "gateway_webhook_skipped_messages",
            "CC messages acknowledged but kept out of session lists, by reason "
            "(system_notification, blocked, unknown_conv_type) and msgType or convType.",
            ["reason", "msg_type"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "gateway_webhook_dead_letters",
            "Correctly signed CC bodies that could not be applied, answered 200 and kept as dead "
            "letters (`gateway dead-letters`), by reason (BAD_JSON, NOT_AN_OBJECT, "
            "MISSING_EVENT_TYPE, MISSING_FIELD, NUL_CHARACTER, BAD_EVENT, UNEXPECTED).",
            ["reason"],
            registry=self.registry,
        )
        self.unusable_fields = Counter(
            "gateway_webhook_unusable_fields",
            "Team messages kept without what a field said of the members (tMembers, attach of a "
            "notification) because the field could not be read.",
            ["field"],
            registry=self.registry,
        )
        self.clamped_times = Counter(
            "gateway_webhook_clamped_times",
            "CC events kept with a time (msgTimestamp, deleteTime, sendTime) taken as "
            "GATEWAY_NIM_MAX_EVENT_AHEAD_S past the server's clock, because it was later.",
            ["field"],
            registry=self.registry,
        )
        self.operations = Histogram(
            "gateway_graphql_operation_seconds",
            "GraphQL operations by name and type, and how long they took.",
            ["operation", "type"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "gateway_graphql_errors",
            "GraphQL errors by extensions.code.",
            ["code"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "gateway_refusals",
            "Requests, operations and WebSocket messages refused for their size, cost or budget, "
            "by code (REQUEST_TOO_LARGE, QUERY_TOO_LARGE, MESSAGE_TOO_LARGE, QUERY_TOO_DEEP, "
            "TOO_MANY_ALIASES, QUERY_TOO_COSTLY, RATE_LIMITED, RESPONSE_TOO_LARGE, "
            "TOO_MANY_CONNECTIONS).",
            ["code"],
            registry=self.registry,
        )
        self.compiled_fallbacks = Counter(
            "gateway_graphql_compiled_fallbacks",
            "Compiled queries handed back to graphql-core's general executor (a resolver's "
            "error, a null in a non-null field, an object compiled code does not expect): "
            "answered as before, slower. A document that always falls back is a fast path lost.",
            registry=self.registry,
        )
        self.store_operations = Histogram(
            "gateway_store_operation_seconds",
            "Store calls by operation (list_sessions, record_message, ...) and how long they took.",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.store_errors = Counter(
            "gateway_store_errors",
            "Store calls that raised, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.subscriptions = Gauge(
            "gateway_subscriptions_open",
            "sessionEvents subscriptions open in this process.",
            registry=self.registry,
        )

        # The histogram of each (name, type) seen: a request observes it without label lookups.
        self._timers: dict[tuple[str | None, str], Histogram] = {}

    def store_observer(self, operation: str) -> Callable[[float, bool], None]:
        """Records one store operation's calls (labels resolved once, not per call)."""
        latency = self.store_operations.labels(operation)
        errors = self.store_errors.labels(operation)

        def observe(seconds: float, failed: bool) -> None:
            latency.observe(seconds)
            if failed:
                errors.inc()

        return observe

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe_operation(
        self, name: object, kind: str, seconds: float, errors: Iterable[GraphQLError]
    ) -> None:
        """Records one GraphQL operation: its time, and its errors by code. ``name`` is what
        the request sent as operationName, which may be anything (JSON's object, list, ...)."""
        if name is not None and not isinstance(name, str):
            name = "not a name"  # counted as "other", as every name that is not GraphQL's
        (self._timers.get((name, kind)) or self._timer(name, kind)).observe(seconds)
        for error in errors:
            code = str((error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR"))
            self.errors.labels(code).inc()
            if code in REFUSALS:
                self.refusals.labels(code).inc()

    def refused(self, code: str) -> None:
        """Counts a refusal made outside any GraphQL operation (at the HTTP or WebSocket edge)."""
        self.refusals.labels(code).inc()

    def _timer(self, name: str | None, kind: str) -> Histogram:
        label = name or "anonymous"
        if not _NAME.fullmatch(label):
            label = "other"  # client-chosen names must not grow the label set unboundedly
        found = self.operations.labels(label, kind)
        if len(self._timers) < _TIMERS_KEPT:
            self._timers[name, kind] = found
        return found
