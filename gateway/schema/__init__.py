"""The GraphQL schema, assembled in one place."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
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
from gateway.schema.context import Context
from gateway.schema.errors import ErrorCodes, is_expected, root_cause
from gateway.schema.limits import (
    QueryLimits,
    document_refusal,
    query_cost_rule,
    rate_limit_refusal,
)
from gateway.schema.mutations import Mutation
from gateway.schema.naming import RememberingNameConverter
from gateway.schema.parsing import DocumentRules, Operation, ParserCache, read_operation
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
        """Charged and observed once (``_admit``, ``_observe``), whichever path answers: a
        query document executed before runs compiled (gateway/fastpath); anything else, and
        whatever the compiled code does not answer itself, runs through Strawberry and
        graphql-core as usual."""
        started = time.perf_counter()
        operation, refusal = self._admit(query, operation_name, context_value,
                                         allowed_operation_types)  # fmt: skip
        result = None
        try:
            if refusal is not None:
                result = ExecutionResult(data=None, errors=[refusal], extensions={})
            else:
                result = await self._run(query, variable_values, context_value, root_value,
                                         operation_name, allowed_operation_types,
                                         operation_extensions)  # fmt: skip
            return result
        finally:
            self._observe(operation, context_value, started, result)

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
        """Operations over a WebSocket (Strawberry's ``subscribe`` comes here too) and streamed
        over HTTP: charged as ``execute``'s, and observed when the stream ends (a parked
        subscription's run ends when it parks: schema/parking.py)."""
        started = time.perf_counter()
        operation, refusal = self._admit(query, operation_name, context_value,
                                         allowed_operation_types)  # fmt: skip
        results: StreamResult
        if refusal is not None:
            results = _refused(refusal)
        else:
            results = await super().stream(query, variable_values, context_value, root_value,
                                           operation_name, operation_extensions,
                                           allowed_operation_types)  # fmt: skip
        return self._observed(results, operation, context_value, started)

    async def _run(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None,
        context_value: Any | None,
        root_value: Any | None,
        operation_name: str | None,
        allowed_operation_types: Iterable[OperationType] | None,
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        """The operation's one run: compiled, or on graphql-core (also when compiled code
        gives up on it: ``Deopt``)."""
        args = (query, variable_values, context_value, root_value, operation_name,
                allowed_operation_types, operation_extensions)  # fmt: skip
        compiled = None
        if self._compiler is not None and isinstance(query, str) and _is_name(operation_name):
            compiled = self._compiler.get(query, operation_name)
        if compiled is None or (
            allowed_operation_types is not None
            and OperationType.QUERY not in allowed_operation_types
        ):
            return await super().execute(*args)
        try:
            data = await compiled.run(context_value, variable_values, root_value,
                                      operation_extensions)  # fmt: skip
        except Deopt:  # graphql-core answers
            if self._metrics is not None:
                self._metrics.compiled_fallbacks.inc()
            return await super().execute(*args)
        return ExecutionResult(data=data, errors=None, extensions={})

    def _admit(
        self,
        query: str | None,
        operation_name: object,
        context: object,
        allowed: Iterable[OperationType] | None,
    ) -> tuple[Operation, GraphQLError | None]:
        """What the operation is, once it has spent its viewer's token (before validation,
        whether it then validates or not), and the error that refuses it before it runs: with
        no token left RATE_LIMITED, else QUERY_TOO_LARGE for a document too large to read.
        What Strawberry refuses before any GraphQL (no document, an operation its transport
        does not take: a mutation over GET is 405) spends all the same, and is refused so.
        A run that goes on with an operation under way spends nothing; requests without a
        valid token spend their address's budget, at the HTTP edge (web/budget.py)."""
        too_large = document_refusal(query, self._limits)
        operation = read_operation(None if too_large else query, operation_name,
                                   self._limits.max_tokens)  # fmt: skip
        if not isinstance(context, Context) or context.resumed or context.viewer_id is None:
            return operation, too_large
        refusal = rate_limit_refusal(context.rate_limiter, context.viewer_id, operation.type)
        if not query or not _takes(allowed, operation.type):
            return operation, None  # Strawberry's refusal answers it
        return operation, refusal or too_large

    def _observe(
        self, operation: Operation, context: object, started: float, result: object
    ) -> None:
        """Times the operation and counts its errors, unless it is a run that goes on with an
        operation under way (a parked subscription's, observed when its first run ended)."""
        if self._metrics is None or (isinstance(context, Context) and context.resumed):
            return
        kind = "unknown" if operation.type is None else operation.type.value
        errors = getattr(result, "errors", None) or ()
        self._metrics.observe_operation(operation.name, kind, time.perf_counter() - started,
                                        errors)  # fmt: skip

    async def _observed(
        self, results: StreamResult, operation: Operation, context: object, started: float
    ) -> StreamResult:
        """``results``, observed (``_observe``) with the last one's errors when they end."""
        result = None
        try:
            async with aclosing(results):
                async for result in results:
                    yield result
        finally:
            self._observe(operation, context, started, result)

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


def _takes(allowed: Iterable[OperationType] | None, operation_type: OperationType | None) -> bool:
    # None: a transport that takes every type; an operation whose type only Strawberry finds.
    return allowed is None or operation_type is None or operation_type in allowed


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
        ErrorCodes,
    ]
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
