"""Compiled queries: a query document sent again runs as straight-line Python, not through
graphql-core's general executor.

graphql-core executes every field of every request through the same machinery: resolve info,
argument coercion, awaitable checks, completion by type, error paths. For a document that is sent
again and again (a client's page query), all of that is decided by the document and the schema,
not by the request. So the first time a query document is executed (by graphql-core, after
parsing and validation passed), it is also compiled: each root field becomes a call of its
resolver (Strawberry's, exactly as graphql-core would call it, with the same resolve info and
coerced arguments, literal arguments coerced once), and the completion of its result generated
code (``completion.py``). Fields with resolvers of their own below the root (``totalCount``,
``pageInfo.hasPreviousPage``) are called like root fields and awaited together.

Whatever the compiled code does not expect (an error raised by a resolver, a null in a non-null
field, a value a scalar does not coerce) raises ``Deopt``, and the operation runs on graphql-core's
general executor instead. A query reads and never writes, so running it again changes nothing.
Mutations and subscriptions are not compiled as queries (a mutation cannot run twice; events are
``events.py``'s), nor are documents with directives (the selection would depend on the request).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from inspect import isawaitable, iscoroutine
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    ValueNode,
    VariableNode,
)
from graphql.execution import default_field_resolver
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path
from graphql.type import GraphQLResolveInfoHelpers

from gateway._compat import strawberry as sb
from gateway.fastpath.collect import Collector, NotCompilable
from gateway.fastpath.completion import Completion, Deopt


class _Pending:
    """A request's resolver results still to be awaited and completed into the response."""

    __slots__ = ("context", "entries", "extensions", "root_value", "tracked", "variables")

    def __init__(
        self,
        context: Any,
        variables: dict[str, Any],
        root_value: Any,
        extensions: dict[str, Any] | None,
    ) -> None:
        self.context = context
        self.extensions: Any = extensions
        self.variables = variables
        self.root_value = root_value
        self.entries: list[tuple[dict[str, Any], str, Awaitable[Any], Callable[..., Any], Any]]
        self.entries = []
        self.tracked: list[Awaitable[Any]] = []

    async def settle(self) -> None:
        """Awaits what was started and is abandoned, so nothing runs on unobserved."""
        waiting = [entry[2] for entry in self.entries]
        started = [w for w in waiting if not iscoroutine(w)] + self.tracked
        for never_started in filter(iscoroutine, waiting):
            never_started.close()
        self.entries, self.tracked = [], []
        if started:
            await asyncio.gather(*started, return_exceptions=True)

    async def drain(self) -> None:
        while self.entries:
            entries, self.entries = self.entries, []
            values = await asyncio.gather(*(e[2] for e in entries), return_exceptions=True)
            for (target, key, _, complete, path), value in zip(entries, values, strict=True):
                if isinstance(value, BaseException):
                    raise Deopt from value
                target[key] = complete(value, path, self)
        if self.tracked:
            results = await asyncio.gather(*self.tracked, return_exceptions=True)
            if any(isinstance(result, BaseException) for result in results):
                raise Deopt


@dataclass(frozen=True, slots=True)
class _Root:
    key: str
    field: GraphQLField
    node: FieldNode
    info: Any  # the resolve info of this field, to be completed per request
    resolve: Callable[..., Any]
    complete: Callable[[Any, Any, _Pending], Any]
    # Coerced once when written without variables; None: coerced per request.
    arguments: dict[str, Any] | None
    # Strawberry's resolver called without its wrapper (None: through the wrapper), with its
    # arguments converted once (None: converted per request).
    call: sb.ResolverCall | None
    converted: dict[str, Any] | None


class CompiledQuery:
    """One query operation of one document, compiled."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        roots: list[_Root],
        hide_suggestions: bool,
    ) -> None:
        self._schema = schema
        self._operation = operation
        self._variable_definitions = operation.variable_definitions or ()
        self._roots = roots
        self._hide_suggestions = hide_suggestions
        self.name = operation.name.value if operation.name else None

    async def run(
        self,
        context: Any,
        raw_variables: Mapping[str, Any] | None,
        root_value: Any,
        operation_extensions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The response's data; raises ``Deopt`` when graphql-core must answer instead."""
        variables = _NO_VARIABLES
        if self._variable_definitions:
            coerced = get_variable_values(
                self._schema,
                self._variable_definitions,
                dict(raw_variables or {}),
                hide_suggestions=self._hide_suggestions,
            )
            if isinstance(coerced, list):
                raise Deopt  # graphql-core reports the variables' errors
            variables = coerced
        pending = _Pending(context, variables.coerced, root_value, operation_extensions)
        helpers = GraphQLResolveInfoHelpers(_gather, pending.tracked.extend)
        results: list[Any] = []
        for root in self._roots:
            info = sb.for_request(root.info, root_value, variables.coerced, context, helpers,
                                  operation_extensions)  # fmt: skip
            try:
                args = root.arguments
                if args is None:
                    args = get_argument_values(
                        root.field, root.node, variables, hide_suggestions=self._hide_suggestions
                    )
                if root.call is not None:
                    results.append(root.call(root_value, info, args, root.converted))
                else:
                    results.append(root.resolve(root_value, info, **args))
            except Exception as e:
                await _settle(results)
                raise Deopt from e
        awaited = [r for r in results if isawaitable(r)]
        if len(awaited) == 1:  # as graphql-core: one field is awaited as it is, not as a task
            try:
                value = await awaited[0]
            except Exception as e:
                raise Deopt from e
            results = [value if isawaitable(r) else r for r in results]
        elif awaited:
            values = iter(await asyncio.gather(*awaited, return_exceptions=True))
            results = [next(values) if isawaitable(r) else r for r in results]
        data: dict[str, Any] = {}
        try:
            for root, value in zip(self._roots, results, strict=True):
                if isinstance(value, BaseException):
                    raise Deopt from value
                data[root.key] = root.complete(value, root.info.path, pending)
            await pending.drain()
        except Deopt:
            await pending.settle()
            raise
        except Exception as e:  # a scalar that does not coerce, an unexpected shape
            await pending.settle()
            raise Deopt from e
        return data


_NO_VARIABLES = VariableValues({}, {})


async def _gather(values: Sequence[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*values))


async def _settle(results: list[Any]) -> None:
    awaitables = [r for r in results if isawaitable(r)]
    if awaitables:
        await asyncio.gather(*awaitables, return_exceptions=True)


def compile_query(collector: Collector) -> CompiledQuery | None:
    """The collector's operation (a query without directives) compiled; None when it uses what
    compiled code does not cover."""
    schema, operation = collector.schema, collector.operation
    root_type = schema.query_type
    assert root_type is not None
    completion = Completion(collector, calls=_ResolverCalls(collector))
    roots: list[_Root] = []
    try:
        for key, details in collector.roots(root_type):
            node = details[0].node
            field = root_type.fields.get(node.name.value)
            if node.name.value == "__typename" or field is None:
                return None
            path = Path(None, key, root_type.name)
            info = sb.resolve_info([d.node for d in details], field.type, root_type, path,
                                   schema, collector.fragment_definitions, operation)  # fmt: skip
            arguments = _constant_arguments(field, node, collector.hide_suggestions)
            call = sb.resolver_call(schema, field)
            roots.append(
                _Root(
                    key=key,
                    field=field,
                    node=node,
                    info=info,
                    resolve=field.resolve or default_field_resolver,
                    complete=completion.completer(field.type, details),
                    arguments=arguments,
                    call=call,
                    converted=_converted(call, arguments),
                )
            )
    except NotCompilable:
        return None
    return CompiledQuery(schema, operation, roots, collector.hide_suggestions)


class _ResolverCalls:
    """Calls of resolvers below the root, each with the resolve info graphql-core would give."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector

    def __call__(
        self, parent: GraphQLObjectType, field: GraphQLField, details: Sequence[Any]
    ) -> Callable[[Any, Path, _Pending], Any]:
        collector = self._collector
        template = sb.resolve_info([d.node for d in details], field.type, parent, None,
                                   collector.schema, collector.fragment_definitions,
                                   collector.operation)  # fmt: skip
        resolve: Callable[..., Any] = field.resolve or default_field_resolver
        direct = sb.resolver_call(collector.schema, field)
        converted = _converted(direct, {})

        def call(source: Any, path: Path, pending: _Pending) -> Any:
            helpers = GraphQLResolveInfoHelpers(_gather, pending.tracked.extend)
            info = sb.for_request(template, pending.root_value, pending.variables,
                                  pending.context, helpers, pending.extensions, path)  # fmt: skip
            try:
                if direct is not None:
                    return direct(source, info, {}, converted)
                return resolve(source, info)
            except Exception as e:
                raise Deopt from e

        return call


def _constant_arguments(
    field: GraphQLField, node: FieldNode, hide_suggestions: bool
) -> dict[str, Any] | None:
    """A field's arguments when they cannot change from one request to the next: none, or
    literals only (and defaults). None when a variable is among them (or they do not coerce)."""
    if not node.arguments:
        return {} if not field.args else _coerced(field, node, hide_suggestions)
    if any(_has_variable(argument.value) for argument in node.arguments):
        return None
    return _coerced(field, node, hide_suggestions)


def _converted(
    call: sb.ResolverCall | None, arguments: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The arguments as the resolver takes them, when they can be converted once."""
    if call is None or arguments is None:
        return None
    try:
        return call.constant(arguments)
    except Exception:
        return None  # converted per request: its error, if any, is graphql-core's to report


def _coerced(field: GraphQLField, node: FieldNode, hide_suggestions: bool) -> dict[str, Any] | None:
    try:
        return get_argument_values(field, node, _NO_VARIABLES, hide_suggestions=hide_suggestions)
    except Exception:
        return None


def _has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(field.value) for field in value.fields)
    return False
