"""Strawberry's surface that is not its documented API, used by the gateway.

- The definitions behind the GraphQL schema (``GraphQLCoreConverter.DEFINITION_BACKREF`` in a
  type's or field's ``extensions``): which Python class a GraphQL object type stands for, and
  which fields Strawberry resolves by reading an attribute. Read by the compiled queries,
  subscription events and plans alike, through :func:`object_origin` and
  :func:`attribute_name`.
- The resolve info Strawberry's executor hands resolvers
  (``_OperationContextAwareGraphQLResolveInfo``, 15 positional fields): :func:`resolve_info`.
- Its executor's ``build`` (graphql-core's executor, as Strawberry extends it): :func:`executor`.
- ``Info._raw_info``, graphql-core's info behind Strawberry's: :func:`raw_info`.
- How its wrapper (``GraphQLCoreConverter.from_resolver``) calls a field's resolver: the
  field's ``base_resolver`` and ``extensions``, the resolver's reserved parameters, the
  converter's ``exception_handlers``, ``config`` and ``scalar_registry``, ``convert_arguments``:
  :func:`resolver_call`, which compiled queries call instead of the wrapper.
- ``Schema._execute_operation``, where ``GatewaySchema`` learns a document that validated.
- Its validation rules, which its schema adds to graphql-core's: :data:`VALIDATION_RULES`.
- Its WebSocket handlers' hooks that ``web/subprotocols.py`` refines:
  ``BaseGraphQLTransportWSHandler._get_pre_execution_close_reason`` and
  ``BaseGraphQLWSHandler.handle_connection_init``; the methods that run one operation, which
  it replaces to give each operation a context of its own: the transport handler's
  ``run_operation`` (with what it calls: ``_send_result_stream``, ``handle_task_exception``,
  ``Operation.send_operation_message``, and ``_OperationStreamClosed``:
  :data:`OperationStreamClosed`, which ends a run quietly) and the legacy handler's
  ``handle_async_results`` (with its ``subscriptions``, ``tasks`` and ``send_data_message``);
  and, for subscriptions that park (schema/parking.py), the transport handler's
  ``cleanup_operation`` and an ``Operation``'s ``task`` (None while parked).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from enum import Enum
from operator import attrgetter
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
)
from graphql.execution.incremental.incremental_executor import IncrementalExecutor
from graphql.pyutils import Path
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import (
    Schema,
    StrawberryGraphQLCoreExecutionContext,
    _OperationContextAwareGraphQLResolveInfo,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField
from strawberry.types.fields.resolver import StrawberryResolver
from strawberry.types.unset import UnsetType

from gateway._compat import IncompatibleLibrary, expect_parameters, parameters

__all__ = [
    "VALIDATION_RULES",
    "ExecutionContext",
    "OperationStreamClosed",
    "ResolveInfo",
    "attribute_getter",
    "attribute_name",
    "check",
    "executor",
    "for_request",
    "object_origin",
    "pre_execution_close_reason",
    "raw_info",
    "resolve_info",
    "resolver_call",
]

LIBRARY = "strawberry-graphql"
MODULE = "strawberry"

ResolveInfo = _OperationContextAwareGraphQLResolveInfo
"""The resolve info Strawberry's executor builds: graphql-core's, with ``operation_extensions``."""

ExecutionContext = StrawberryGraphQLCoreExecutionContext
"""graphql-core's executor as Strawberry extends it (its own class: public, but undocumented)."""

OperationStreamClosed = _OperationStreamClosed
"""Raised from ``_send_result_stream``, it ends the operation's run quietly: no ``complete``,
and the operation stays in the handler's ``operations``."""

VALIDATION_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)
"""The rules Strawberry's schema validates with beside graphql-core's ``specified_rules``."""

_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
_INFO_FIELDS = (
    "field_name", "field_nodes", "return_type", "parent_type", "path", "schema", "fragments",
    "root_value", "operation", "variable_values", "context", "is_awaitable", "abort_signal",
    "async_helpers", "operation_extensions",
)  # fmt: skip


def object_origin(object_type: GraphQLObjectType) -> type | None:
    """The Python class a Strawberry object type was made from; None for any other type."""
    definition = (object_type.extensions or {}).get(_BACKREF)
    return definition.origin if isinstance(definition, StrawberryObjectDefinition) else None


def attribute_name(field: GraphQLField) -> str | None:
    """The attribute a field reads, for a field Strawberry resolves by reading an attribute (no
    resolver, no field extensions) whose name is a plain identifier; None for any other."""
    definition = (field.extensions or {}).get(_BACKREF)
    if not (isinstance(definition, StrawberryField) and definition.is_basic_field):
        return None
    name = definition.python_name
    return name if name.isidentifier() and not keyword.iskeyword(name) else None


def attribute_getter(field: GraphQLField) -> Callable[[Any], Any] | None:
    """How to read a field that only reads an attribute (see :func:`attribute_name`)."""
    name = attribute_name(field)
    return None if name is None else attrgetter(name)


def resolve_info(
    field_nodes: list[FieldNode],
    return_type: GraphQLOutputType,
    parent_type: GraphQLObjectType,
    path: Path | None,
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
) -> ResolveInfo:
    """The resolve info Strawberry's executor would give a resolver of ``field_nodes``, less what
    each request sets with ``_replace``: ``root_value``, ``variable_values``, ``context``,
    ``async_helpers``, ``operation_extensions`` (and ``path``, when ``None`` here)."""
    return _OperationContextAwareGraphQLResolveInfo(
        field_nodes[0].name.value, field_nodes, return_type, parent_type,
        path,  # type: ignore[arg-type]  # None until a request's path is set
        schema, fragments, None, operation, {}, None, optimized_is_awaitable, None, None, {},
    )  # fmt: skip


class ResolverCall:
    """A field's resolver called as Strawberry's wrapper calls it, less the wrapper: Strawberry's
    ``Info`` made, the arguments converted (``convert_arguments``), the reserved parameters (self,
    root, parent, info) filled in. Only for a field the wrapper adds nothing to: a resolver of its
    own, no field extensions (permissions are one), no exception handlers."""

    __slots__ = ("_config", "_field", "_info_class", "_reserved", "_resolver", "_scalars", "_self")

    def __init__(self, field: StrawberryField, resolver: StrawberryResolver[Any],
                 converter: GraphQLCoreConverter) -> None:  # fmt: skip
        self._field = field
        self._resolver = resolver
        self._config = converter.config
        self._info_class = converter.config.info_class
        self._scalars = converter.scalar_registry
        self._self = resolver.self_parameter is not None
        reserved = (
            (resolver.parent_parameter, False),
            (resolver.root_parameter, False),
            (resolver.info_parameter, True),
        )
        self._reserved = tuple((p.name, is_info) for p, is_info in reserved if p is not None)

    def convert(self, arguments: dict[str, Any], info: Any = None) -> dict[str, Any]:
        """graphql-core's coerced arguments as the resolver takes them."""
        return convert_arguments(arguments, self._field.arguments, scalar_registry=self._scalars,
                                 config=self._config, info=info)  # fmt: skip

    def constant(self, arguments: dict[str, Any]) -> dict[str, Any] | None:
        """The converted arguments, when they can be converted once and shared by every call:
        each a scalar, an enum's value or unset (never a list or an input object a resolver
        could change). None when they must be converted per call."""
        converted = self.convert(arguments)
        if all(isinstance(v, _IMMUTABLE) for v in converted.values()):
            return converted
        return None

    def __call__(self, source: Any, info: ResolveInfo,
                 arguments: dict[str, Any], converted: dict[str, Any] | None) -> Any:  # fmt: skip
        """Calls the resolver with ``converted`` arguments, or with graphql-core's coerced
        ``arguments`` converted for this call when ``converted`` is None."""
        strawberry_info = self._info_class(_raw_info=info, _field=self._field)  # type: ignore[arg-type]
        if converted is not None:
            kwargs = converted.copy()
        else:
            kwargs = self.convert(arguments, strawberry_info)
        for name, is_info in self._reserved:
            kwargs[name] = strawberry_info if is_info else source
        if self._self:
            return self._resolver(source, **kwargs)
        return self._resolver(**kwargs)


_IMMUTABLE = (str, int, float, bool, type(None), UnsetType, Enum)


def resolver_call(schema: GraphQLSchema, field: GraphQLField) -> ResolverCall | None:
    """How to call ``field``'s resolver without Strawberry's wrapper; None when the wrapper does
    more than call it (or the field is not Strawberry's)."""
    definition = (field.extensions or {}).get(_BACKREF)
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    if not isinstance(definition, StrawberryField) or not isinstance(strawberry_schema, Schema):
        return None
    resolver = definition.base_resolver
    converter = strawberry_schema.schema_converter
    if resolver is None or definition.extensions or converter.exception_handlers:
        return None
    return ResolverCall(definition, resolver, converter)


def for_request(
    template: ResolveInfo,
    root_value: Any,
    variable_values: dict[str, Any],
    context: Any,
    async_helpers: Any,
    operation_extensions: Any,
    path: Path | None = None,
) -> ResolveInfo:
    """``template`` (a :func:`resolve_info`) with what a request sets: the same as its
    ``_replace`` with these fields (and ``path`` unless None), without ``_replace``'s cost (a
    page's root field builds one per request)."""
    t = template
    return tuple.__new__(ResolveInfo, (
        t[0], t[1], t[2], t[3], t[4] if path is None else path, t[5], t[6], root_value, t[8],
        variable_values, context, t[11], t[12], async_helpers, operation_extensions,
    ))  # fmt: skip


def executor(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    *,
    hide_suggestions: bool,
) -> StrawberryGraphQLCoreExecutionContext | list[GraphQLError]:
    """Strawberry's executor for ``document``, as it builds one (its errors when the variables
    do not fit): its fragments, coerced variables and field resolver."""
    built: StrawberryGraphQLCoreExecutionContext | list[GraphQLError]
    built = StrawberryGraphQLCoreExecutionContext.build(  # type: ignore[assignment]
        schema, document, None, None, dict(variables or {}), operation_name,
        hide_suggestions=hide_suggestions,
    )  # fmt: skip
    return built


def raw_info(info: strawberry.Info[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's resolve info behind Strawberry's ``Info``."""
    raw: GraphQLResolveInfo[Any] = info._raw_info
    return raw


def pre_execution_close_reason(error: GraphQLError) -> str | None:
    """Why Strawberry's graphql-transport-ws handler closes a connection for an operation refused
    before execution (None: it answers with an ``error`` message instead)."""
    reason: str | None = BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)
    return reason


def check() -> None:
    def fail(what: str) -> None:
        raise IncompatibleLibrary(LIBRARY, what, MODULE)

    if not isinstance(getattr(GraphQLCoreConverter, "DEFINITION_BACKREF", None), str):
        fail("GraphQLCoreConverter.DEFINITION_BACKREF is gone")
    if getattr(_OperationContextAwareGraphQLResolveInfo, "_fields", None) != _INFO_FIELDS:
        fail("its resolve info (_OperationContextAwareGraphQLResolveInfo) has other fields")
    for name in ("origin",):
        if name not in getattr(StrawberryObjectDefinition, "__dataclass_fields__", {}):
            fail(f"StrawberryObjectDefinition has no {name}")
    for name in ("is_basic_field", "python_name"):
        if not hasattr(StrawberryField, name):
            fail(f"StrawberryField has no {name}")
    if "_raw_info" not in getattr(strawberry.Info, "__dataclass_fields__", {}):
        fail("Info has no _raw_info")
    sample = StrawberryField(python_name="sample")
    for name in ("base_resolver", "extensions", "arguments"):
        if not hasattr(sample, name):
            fail(f"StrawberryField has no {name}")
    for name in ("self_parameter", "parent_parameter", "root_parameter", "info_parameter"):
        if not hasattr(StrawberryResolver, name):
            fail(f"StrawberryResolver has no {name}")
    if "exception_handlers" not in parameters(GraphQLCoreConverter.__init__):
        fail("GraphQLCoreConverter takes no exception_handlers")
    if parameters(convert_arguments) != ["value", "arguments", "scalar_registry", "config", "info"]:
        fail("convert_arguments takes other parameters")
    if not issubclass(StrawberryGraphQLCoreExecutionContext, IncrementalExecutor):
        fail("its executor no longer extends graphql-core's IncrementalExecutor")
    expect_parameters(
        LIBRARY, MODULE, StrawberryGraphQLCoreExecutionContext, "build",
        ["schema", "document", "root_value", "context_value", "raw_variable_values",
         "operation_name"],
    )  # fmt: skip
    if "hide_suggestions" not in parameters(StrawberryGraphQLCoreExecutionContext.build):
        fail("its executor's build takes no hide_suggestions")
    expect_parameters(
        LIBRARY, MODULE, Schema, "_execute_operation",
        ["self", "execution_context", "extensions_runner", "middleware_manager",
         "execute_function", "custom_context_kwargs"],
    )  # fmt: skip
    close_reason = BaseGraphQLTransportWSHandler.__dict__.get("_get_pre_execution_close_reason")
    if not isinstance(close_reason, staticmethod):
        fail("BaseGraphQLTransportWSHandler._get_pre_execution_close_reason is gone")
    expect_parameters(
        LIBRARY, MODULE, BaseGraphQLWSHandler, "handle_connection_init", ["self", "message"]
    )
    for name, expected in (("run_operation", ["self", "operation"]),
                           ("_send_result_stream", ["self", "operation", "result_source"]),
                           ("handle_task_exception", ["self", "error"]),
                           ("cleanup_operation", ["self", "operation_id"])):  # fmt: skip
        expect_parameters(LIBRARY, MODULE, BaseGraphQLTransportWSHandler, name, expected)
    expect_parameters(LIBRARY, MODULE, Operation, "send_operation_message", ["self", "message"])
    if "task" not in getattr(Operation, "__slots__", ()):
        fail("its WebSocket Operation has no task")
    for name, expected in (
        ("handle_async_results", ["self", "operation_id", "query", "operation_name", "variables"]),
        ("send_data_message", ["self", "execution_result", "operation_id"]),
    ):
        expect_parameters(LIBRARY, MODULE, BaseGraphQLWSHandler, name, expected)
    legacy = BaseGraphQLWSHandler(None, None, None, None, None, False, None)  # type: ignore[arg-type]
    missing = [name for name in ("subscriptions", "tasks") if not hasattr(legacy, name)]
    if missing:
        fail(f"BaseGraphQLWSHandler has no {', '.join(missing)}")
