"""Compiled queries: a cached query document runs as straight-line Python, not through
graphql-core's general executor.

graphql-core executes every field of every request through the same machinery: resolve info,
argument coercion, awaitable checks, completion by type, error paths. For a document that is sent
again and again (a client's page query), all of that is decided by the document and the schema,
not by the request. So the first time a query document is executed (by graphql-core, after
parsing and validation passed), it is also compiled, from graphql-core's own field collection:

* each root field becomes a call of its resolver (Strawberry's, exactly as graphql-core would
  call it, with the same resolve info and coerced arguments);
* the completion of its result becomes generated Python: one function per selection set that
  reads each plain attribute, checks nulls where the type is non-null, serializes leaves (a
  ``str`` for a String is itself; anything else goes through the type's own coercion) and builds
  the response dict in the document's order. Fields with resolvers of their own (``totalCount``,
  ``pageInfo.hasPreviousPage``) are called like root fields and awaited together.

Compiled code produces only clean results. Whatever it does not expect (an error raised by a
resolver, a null in a non-null field, a value a scalar does not coerce, an object of another
class) abandons the attempt, and the operation runs on graphql-core's general executor instead,
which produces the result and its errors as it always did. A query reads and never writes, so
running it again changes nothing. Mutations and subscriptions are not compiled (a mutation
cannot run twice); nor are documents with directives (``@include``/``@skip``/``@defer`` make the
selection depend on the request), or the few shapes this module does not generate (arguments
below the root, fragment variables).

``tests/test_differential.py`` runs every operation of ``clients/``, ``docs/`` and the test suite
through both paths and requires identical responses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from inspect import isawaitable, iscoroutine
from typing import Any

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLAbstractType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    ValueNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
    is_abstract_type,
    is_leaf_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path
from graphql.type import GraphQLResolveInfoHelpers
from graphql.type.scalars import GraphQLBoolean, GraphQLID, GraphQLInt, GraphQLString

from gateway._compat import strawberry as sb
from gateway._compat.graphql_core import collect_fields
from gateway.schema.execution import operation_directive_free

logger = logging.getLogger(__name__)

# Field details as graphql-core's field collection gives them (FieldDetails: node, ...).
FieldDetailsList = Sequence[Any]


class Deopt(Exception):
    """The compiled code met something only graphql-core's general executor answers exactly."""


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
            info = root.info._replace(
                root_value=root_value,
                variable_values=variables.coerced,
                context=context,
                async_helpers=helpers,
                operation_extensions=operation_extensions,
            )
            try:
                args = root.arguments
                if args is None:
                    args = get_argument_values(
                        root.field, root.node, variables, hide_suggestions=self._hide_suggestions
                    )
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


class QueryCompiler:
    """Compiles query documents once, after graphql-core has executed them once: ``learn`` is
    called with a document that parsed and validated; ``get`` returns its compiled query."""

    def __init__(self, *, hide_suggestions: bool, maxsize: int = 256) -> None:
        self._hide_suggestions = hide_suggestions
        # By the document's text and the operation asked for; None: not compilable.
        self._compiled: LRUCache[tuple[str, str | None], CompiledQuery | None] = LRUCache(maxsize)

    def get(self, query: str, operation_name: str | None) -> CompiledQuery | None:
        return self._compiled.get((query, operation_name))

    def learn(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> None:
        key = (query, operation_name)
        if key in self._compiled:
            return
        try:
            compiled = _compile(schema, document, operation_name, variables, self._hide_suggestions)
        except Exception:
            # Compiling leans on graphql-core's and Strawberry's internals (both pinned); if
            # one changed under it, the document runs through graphql-core as it always could.
            logger.warning("could not compile a query; it runs uncompiled", exc_info=True)
            compiled = None
        self._compiled[key] = compiled


def _compile(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    hide_suggestions: bool,
) -> CompiledQuery | None:
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    if not operation_directive_free(operation, fragments):
        return None
    # graphql-core's own executor collects the fields (fragments, merging, order), once.
    executor = sb.executor(schema, document, variables, operation_name,
                           hide_suggestions=hide_suggestions)  # fmt: skip
    if isinstance(executor, list):
        return None
    root_type = schema.query_type
    assert root_type is not None
    grouped, defers, _ = collect_fields(
        schema, executor.fragments, executor.variable_values, root_type, operation,
        hide_suggestions,
    )  # fmt: skip
    if defers:
        return None
    generator = _Generator(schema, executor)
    roots: list[_Root] = []
    try:
        for key, details in _items(grouped):
            node = details[0].node
            if node.name.value == "__typename" or _fragment_variables(details):
                return None
            field = root_type.fields.get(node.name.value)
            if field is None:
                return None
            path = Path(None, key, root_type.name)
            info = sb.resolve_info([d.node for d in details], field.type, root_type, path,
                                   schema, executor.fragment_definitions, operation)  # fmt: skip
            roots.append(
                _Root(
                    key=key,
                    field=field,
                    node=node,
                    info=info,
                    resolve=field.resolve or executor.field_resolver,
                    complete=generator.completer(field.type, details),
                    arguments=_constant_arguments(field, node, hide_suggestions),
                )
            )
    except _NotCompilable:
        return None
    return CompiledQuery(schema, operation, roots, hide_suggestions)


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


class _NotCompilable(Exception):
    pass


def _items(grouped: Any) -> list[tuple[str, FieldDetailsList]]:
    return list(grouped.items() if isinstance(grouped, Mapping) else grouped)


def _fragment_variables(details: FieldDetailsList) -> bool:
    return any(getattr(d, "fragment_variable_values", None) is not None for d in details)


def _deopt(*_: Any) -> Any:
    raise Deopt


class _Generator:
    """Writes the completion functions of one operation as Python source, then compiles them."""

    def __init__(self, schema: GraphQLSchema, executor: sb.ExecutionContext):
        self._schema = schema
        self._executor = executor
        self._namespace: dict[str, Any] = {
            "Deopt": Deopt, "Path": Path, "isawaitable": isawaitable, "deopt": _deopt,
        }  # fmt: skip
        self._sources: list[str] = []
        self._count = 0

    def completer(
        self, return_type: GraphQLOutputType, details: FieldDetailsList
    ) -> Callable[[Any, Any, _Pending], Any]:
        """A function (value, path, pending) -> the completed value of a field of this type."""
        name = self._fresh("c")
        lines = [f"def {name}(x, p, st):"]
        lines += self._complete(return_type, details, "x", "return {}", "p", "    ")
        completer: Callable[[Any, Any, _Pending], Any] = self._define(name, lines)
        return completer

    def _define(self, name: str, lines: list[str]) -> Any:
        source = "\n".join(lines)
        exec(compile(source, f"<compiled query {name}>", "exec"), self._namespace)  # noqa: S102
        return self._namespace[name]

    def _fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def _const(self, value: Any, prefix: str) -> str:
        name = self._fresh(prefix)
        self._namespace[name] = value
        return name

    def _complete(
        self,
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        var: str,
        into: str,
        path: str,
        indent: str,
    ) -> list[str]:
        """Statements completing ``var`` (of ``return_type``) and storing it by ``into``, a
        format string (``"r['key'] = {}"``, ``"return {}"``)."""
        if isinstance(return_type, GraphQLNonNull):
            lines = [f"{indent}if {var} is None: raise Deopt"]
            return lines + self._non_null(return_type.of_type, details, var, into, path, indent)
        lines = [f"{indent}if {var} is None:", f"{indent}    {into.format('None')}",
                 f"{indent}else:"]  # fmt: skip
        return lines + self._non_null(return_type, details, var, into, path, indent + "    ")

    def _non_null(
        self,
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        var: str,
        into: str,
        path: str,
        indent: str,
    ) -> list[str]:
        if is_leaf_type(return_type):
            assert isinstance(return_type, GraphQLLeafType)
            return [f"{indent}{into.format(self._leaf(return_type, var))}"]
        if isinstance(return_type, GraphQLList):
            item = self.completer(return_type.of_type, details)
            item_name = self._const(item, "li")
            # graphql-core completes any iterable; ours are lists (anything else: Deopt).
            check = f"{indent}if type({var}) is not list: raise Deopt"
            if path == "None":
                value = f"[{item_name}(i, None, st) for i in {var}]"
            else:
                value = f"[{item_name}(i, Path({path}, n, None), st) for n, i in enumerate({var})]"
            return [check, f"{indent}{into.format(value)}"]
        if isinstance(return_type, GraphQLObjectType):
            name = self._object(return_type, details)
            return [f"{indent}{into.format(f'{name}({var}, {path}, st)')}"]
        if is_abstract_type(return_type):
            assert isinstance(return_type, GraphQLAbstractType)
            by_class = {}
            for possible in self._schema.get_possible_types(return_type):
                origin = sb.object_origin(possible)
                if origin is None:
                    raise _NotCompilable
                by_class[origin] = self._const(self._object_function(possible, details), "o")
            table = self._const({k: self._namespace[v] for k, v in by_class.items()}, "by_class")
            value = f"{table}.get(type({var}), deopt)({var}, {path}, st)"
            return [f"{indent}{into.format(value)}"]
        raise _NotCompilable

    def _leaf(self, leaf: GraphQLLeafType, var: str) -> str:
        coerce = self._const(_checked(leaf), "s")
        if leaf is GraphQLString or leaf is GraphQLID:
            return f"({var} if type({var}) is str else {coerce}({var}))"
        if leaf is GraphQLBoolean:
            return f"({var} if type({var}) is bool else {coerce}({var}))"
        if leaf is GraphQLInt:
            fits = f"type({var}) is int and -2147483648 <= {var} <= 2147483647"
            return f"({var} if {fits} else {coerce}({var}))"
        return f"{coerce}({var})"

    def _object(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> str:
        return self._const(self._object_function(object_type, details), "o")

    def _object_function(
        self, object_type: GraphQLObjectType, details: FieldDetailsList
    ) -> Callable[..., Any]:
        grouped, defers, _ = self._executor.collect_subfields(object_type, details)  # type: ignore[arg-type]
        if defers:
            raise _NotCompilable
        name = self._fresh("o")
        lines = [f"def {name}(v, p, st):"]
        if object_type.is_type_of is not None:
            # Strawberry checks the object's class (types that implement an interface): an
            # object of exactly the type's class passes; graphql-core decides any other.
            origin = sb.object_origin(object_type)
            if origin is None:
                raise _NotCompilable
            lines.append(f"    if type(v) is not {self._const(origin, 'cls')}: raise Deopt")
        lines.append("    r = {}")
        for key, field_details in _items(grouped):
            if _fragment_variables(field_details):
                raise _NotCompilable
            node = field_details[0].node
            target = f"r[{key!r}]"
            if node.name.value == "__typename":
                lines.append(f"    {target} = {object_type.name!r}")
                continue
            field = object_type.fields.get(node.name.value)
            if field is None or field.args or node.arguments:
                raise _NotCompilable
            field_path = f"Path(p, {key!r}, {object_type.name!r})"
            attribute = sb.attribute_name(field)
            if attribute is not None:
                lines.append(f"    x = v.{attribute}")
                child_path = field_path if self._needs_path(field.type, field_details) else "None"
                lines += self._complete(field.type, field_details, "x", target + " = {}",
                                        child_path, "    ")  # fmt: skip
                continue
            # A field with a resolver of its own: called as graphql-core would, awaited later.
            call = self._const(self._resolver_call(object_type, field, field_details), "rc")
            complete = self._const(self.completer(field.type, field_details), "fc")
            lines += [
                f"    fp = {field_path}",
                f"    x = {call}(v, fp, st)",
                "    if isawaitable(x):",
                f"        {target} = None",
                f"        st.entries.append((r, {key!r}, x, {complete}, fp))",
                "    else:",
                f"        {target} = {complete}(x, fp, st)",
            ]
        lines.append("    return r")
        return self._define(name, lines)  # type: ignore[no-any-return]

    def _needs_path(self, return_type: GraphQLOutputType, details: FieldDetailsList) -> bool:
        """Whether a field with a resolver is selected below: its resolve info has a path, so
        the objects above it make theirs."""
        named = get_named_type(return_type)
        if isinstance(named, GraphQLObjectType):
            types = [named]
        elif isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            types = list(self._schema.get_possible_types(named))
        else:
            return False
        for object_type in types:
            grouped, _, _ = self._executor.collect_subfields(object_type, details)  # type: ignore[arg-type]
            for _, field_details in _items(grouped):
                name = field_details[0].node.name.value
                field = object_type.fields.get(name)
                if name == "__typename" or field is None:
                    continue
                if sb.attribute_name(field) is None or self._needs_path(field.type, field_details):
                    return True
        return False

    def _resolver_call(
        self, parent: GraphQLObjectType, field: GraphQLField, details: FieldDetailsList
    ) -> Callable[[Any, Path, _Pending], Any]:
        executor = self._executor
        template = sb.resolve_info([d.node for d in details], field.type, parent, None,
                                   self._schema, executor.fragment_definitions,
                                   executor.operation)  # fmt: skip
        resolve = field.resolve or executor.field_resolver

        def call(source: Any, path: Path, pending: _Pending) -> Any:
            info = template._replace(
                path=path,
                root_value=pending.root_value,
                variable_values=pending.variables,
                context=pending.context,
                async_helpers=GraphQLResolveInfoHelpers(_gather, pending.tracked.extend),
                operation_extensions=pending.extensions,
            )
            try:
                return resolve(source, info)
            except Exception as e:
                raise Deopt from e

        return call


def _checked(leaf: GraphQLLeafType) -> Callable[[Any], Any]:
    coerce = leaf.coerce_output_value if hasattr(leaf, "coerce_output_value") else leaf.serialize

    def complete(value: Any) -> Any:
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise Deopt
        return coerced

    return complete
