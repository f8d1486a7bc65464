"""The GraphQL schema, assembled in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext

from gateway.metrics import Metrics
from gateway.schema.errors import ErrorCodes, is_expected, root_cause
from gateway.schema.execution import PlanningExecutionContext, check_executor
from gateway.schema.limits import QueryLimits, RateLimits, query_cost_rule
from gateway.schema.mutations import Mutation
from gateway.schema.parsing import ParserCache
from gateway.schema.queries import Query
from gateway.schema.scalars import SCALARS
from gateway.schema.subscriptions import Subscription
from gateway.schema.types import Session
from gateway.schema.validation import Validation

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger("gateway.graphql")


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors are answers, not incidents: only the unexpected ones are logged.
        for error in errors:
            if not is_expected(error):
                logger.error("unexpected error at %s", error.path, exc_info=root_cause(error))


def build_schema(
    limits: QueryLimits | None = None,
    *,
    introspection: bool = True,
    planned: bool = True,
    metrics: Metrics | None = None,
    tracer_provider: TracerProvider | None = None,
) -> strawberry.Schema:
    """The schema. ``planned`` runs plain sub-selections through compiled plans (see
    schema/execution.py); without it every field goes through graphql-core alone. With a
    ``tracer_provider``, operations and resolvers are traced (gateway/tracing.py)."""
    limits = limits or QueryLimits()
    rules: list[type[ASTValidationRule]] = [query_cost_rule(limits)]
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),  # before the parser cache
        lambda: ParserCache(maxsize=256),
        lambda: AddValidationRules(rules),
        lambda: Validation(hide_suggestions=not introspection),
        RateLimits,
        ErrorCodes,
    ]
    if metrics is not None:
        extensions.insert(len(extensions) - 1, metrics.extension())  # exits after ErrorCodes
    if not introspection:
        extensions.insert(2, DisableIntrospection)
    if tracer_provider is not None:
        from strawberry.extensions.tracing import OpenTelemetryExtension

        extensions.insert(0, lambda: OpenTelemetryExtension(tracer_provider=tracer_provider))
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Session],
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=extensions,
        execution_context_class=_executor(planned, hide_suggestions=not introspection),
    )


def _executor(
    planned: bool, *, hide_suggestions: bool
) -> type[StrawberryGraphQLCoreExecutionContext]:
    if planned:
        check_executor()  # at start-up: fails loudly when graphql-core's executor changed
    base = PlanningExecutionContext if planned else StrawberryGraphQLCoreExecutionContext
    if not hide_suggestions:
        return base

    class WithoutSuggestions(base):  # type: ignore[valid-type,misc]
        """Variable values that do not fit their type are refused without naming the schema's
        enum values or fields (execution's counterpart of ``Validation(hide_suggestions)``)."""

        @classmethod
        def build(cls, *args: Any, **kwargs: Any) -> Any:
            return super().build(*args, **{**kwargs, "hide_suggestions": True})

    return WithoutSuggestions
