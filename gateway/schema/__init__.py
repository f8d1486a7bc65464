"""The GraphQL schema, assembled in one place."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from gateway import _compat
from gateway._compat import strawberry as sb
from gateway.fastpath import Deopt, PlanningExecutionContext, QueryCache
from gateway.metrics import Metrics
from gateway.schema.errors import ErrorCodes, is_expected, root_cause
from gateway.schema.limits import (
    QueryLimits,
    RateLimits,
    document_refusal,
    query_cost_rule,
    rate_limit_refusal,
)
from gateway.schema.mutations import Mutation
from gateway.schema.naming import RememberingNameConverter
from gateway.schema.parsing import DocumentRules, ParserCache
from gateway.schema.queries import Query
from gateway.schema.scalars import SCALARS
from gateway.schema.subscriptions import Subscription
from gateway.schema.types import Session
from gateway.schema.validation import Validation

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger("gateway.graphql")


class GatewaySchema(strawberry.Schema):
    def __init__(
        self,
        *args: Any,
        limits: QueryLimits | None = None,
        compiler: QueryCache | None = None,
        metrics: Metrics | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits or QueryLimits()
        self._compiler = compiler
        self._metrics = metrics

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors are answers, not incidents: only the unexpected ones are logged.
        for error in errors:
            if not is_expected(error):
                logger.error("unexpected error at %s", error.path, exc_info=root_cause(error))

    def is_compiled(self, query: str, operation_name: str | None = None) -> bool:
        """Whether ``query`` (with that operation) runs compiled from now on."""
        if self._compiler is None or not _is_name(operation_name):
            return False
        return self._compiler.get(query, operation_name) is not None

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """A query document executed before runs compiled (gateway/fastpath); anything else,
        and whatever the compiled code does not answer itself, runs through Strawberry and
        graphql-core as usual."""
        args = (query, variable_values, context_value, root_value, operation_name,
                allowed_operation_types, operation_extensions)  # fmt: skip
        if (refusal := self._refusal_unread(query, context_value)) is not None:
            return ExecutionResult(data=None, errors=[refusal], extensions={})
        compiled = None
        if self._compiler is not None and isinstance(query, str) and _is_name(operation_name):
            compiled = self._compiler.get(query, operation_name)
        if compiled is None or (
            allowed_operation_types is not None
            and OperationType.QUERY not in allowed_operation_types
        ):
            return await super().execute(*args)
        started = time.perf_counter()
        refusal = rate_limit_refusal(context_value, OperationType.QUERY)
        if refusal is not None:
            result = ExecutionResult(data=None, errors=[refusal], extensions={})
        else:
            try:
                data = await compiled.run(context_value, variable_values, root_value,
                                          operation_extensions)  # fmt: skip
            except Deopt:  # graphql-core answers; the context says the token is spent
                if self._metrics is not None:
                    self._metrics.compiled_fallbacks.inc()
                return await super().execute(*args)
            result = ExecutionResult(data=data, errors=None, extensions={})
        if self._metrics is not None:
            elapsed = time.perf_counter() - started
            name = operation_name or compiled.name
            self._metrics.observe_operation(name, "query", elapsed, result.errors or ())
        return result

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        """Operations over a WebSocket (Strawberry's ``subscribe`` comes here too): refused
        unread as ``execute`` refuses them, else Strawberry's."""
        if (refusal := self._refusal_unread(query, context_value)) is not None:
            return _refused(refusal)
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )

    def _refusal_unread(self, query: object, context: object) -> GraphQLError | None:
        """The error that answers a document too large to read, which spends a token (or, with
        none left, RATE_LIMITED); None for any other document."""
        refusal = document_refusal(query, self._limits)
        if refusal is None:
            return None
        refusal = rate_limit_refusal(context, OperationType.QUERY) or refusal
        if self._metrics is not None:
            self._metrics.observe_operation(None, "unknown", 0.0, [refusal])
        return refusal

    async def _execute_operation(
        self, execution_context: ExecutionContext, *args: Any, **kwargs: Any
    ) -> Any:
        # Parsing and validation passed: the document may be compiled for its next request.
        document, name = execution_context.graphql_document, execution_context.operation_name
        if self._compiler is not None and document is not None and _is_name(name):
            self._compiler.learn(self._schema, execution_context.query, document, name)
        return await super()._execute_operation(execution_context, *args, **kwargs)


async def _refused(error: GraphQLError) -> AsyncGenerator[PreExecutionError, None]:
    yield PreExecutionError(data=None, errors=[error])


def _is_name(operation_name: object) -> bool:
    # A request may send anything as operationName; graphql-core refuses what is not a name.
    return operation_name is None or isinstance(operation_name, str)


def build_schema(
    limits: QueryLimits | None = None,
    *,
    introspection: bool = True,
    planned: bool = True,
    metrics: Metrics | None = None,
    tracer_provider: TracerProvider | None = None,
) -> strawberry.Schema:
    """The schema. ``planned`` runs plain sub-selections through compiled plans (see
    gateway/fastpath/planner.py); without it every field goes through graphql-core alone. With a
    ``tracer_provider``, operations and resolvers are traced (gateway/tracing.py). Fails with
    ``IncompatibleLibrary`` when a library's internals are not what gateway/_compat expects."""
    _compat.check()
    limits = limits or QueryLimits()
    rules: list[type[ASTValidationRule]] = [query_cost_rule(limits)]
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: DocumentRules(limits.max_tokens, rules),  # before the parser cache
        ParserCache,
        lambda: Validation(hide_suggestions=not introspection, max_errors=limits.max_errors),
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
    compiler = None
    if planned and tracer_provider is None:  # traced resolvers run through graphql-core
        compiler = QueryCache(hide_suggestions=not introspection)
    return GatewaySchema(
        limits=limits,
        compiler=compiler,
        metrics=metrics,
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Session],
        config=StrawberryConfig(scalar_map=SCALARS, name_converter=RememberingNameConverter()),
        extensions=extensions,
        execution_context_class=_executor(planned, hide_suggestions=not introspection),
    )


def _executor(planned: bool, *, hide_suggestions: bool) -> type[sb.ExecutionContext]:
    base = PlanningExecutionContext if planned else sb.ExecutionContext
    if not hide_suggestions:
        return base

    class WithoutSuggestions(base):  # type: ignore[valid-type,misc]
        """Variable values that do not fit their type are refused without naming the schema's
        enum values or fields (execution's counterpart of ``Validation(hide_suggestions)``)."""

        @classmethod
        def build(cls, *args: Any, **kwargs: Any) -> Any:
            return super().build(*args, **{**kwargs, "hide_suggestions": True})

    return WithoutSuggestions
