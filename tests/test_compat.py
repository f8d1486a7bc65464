"""gateway/_compat: what the gateway uses of its libraries' internals is there, and behaves as the
code that uses it expects; when it is not, the start stops with one line that names the library.

Each behaviour test here is one a library upgrade must pass before its pin moves."""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import strawberry
import uvicorn
from click.testing import CliRunner
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSyntaxError,
    NameNode,
    OperationDefinitionNode,
    Source,
    parse,
    validate,
)
from graphql.execution.incremental.incremental_executor import IncrementalExecutor
from graphql.pyutils import Path as ResponsePath
from strawberry.extensions.field_extension import FieldExtension
from strawberry.schema.schema import Schema, _OperationContextAwareGraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.field import StrawberryField
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from websockets.protocol import Protocol

from gateway import _compat, cli
from gateway._compat import IncompatibleLibrary, installed
from gateway._compat import graphql_core as gc
from gateway._compat import strawberry as sb
from gateway.cli import main
from gateway.fastpath import PlanningExecutionContext
from gateway.schema import build_schema
from gateway.schema.types import Message, Session
from tests.helpers import SECRET


def test_the_pinned_libraries_have_what_gateway_compat_uses() -> None:
    _compat.check()


def test_the_planned_executor_overrides_graphql_cores_method_as_it_is() -> None:
    overridden = _compat.parameters(PlanningExecutionContext.execute_collected_subfields)
    assert overridden == gc.EXPECTED["IncrementalExecutor.execute_collected_subfields"]


def _renamed(
    self: Any, parent_type: Any, source_value: Any, path: Any, grouped_field_set: Any,
    new_defer_usages: Any, position_context: Any,
) -> Any: ...  # fmt: skip


def test_a_changed_graphql_core_executor_stops_building_the_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(IncrementalExecutor, "execute_collected_subfields", _renamed)
    with pytest.raises(IncompatibleLibrary) as raised:
        build_schema()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"graphql-core {installed('graphql-core')}: ")
    assert "execute_collected_subfields" in message
    assert "position_context" in message
    assert "gateway/_compat/graphql_core.py" in message


def _collects_otherwise(schema: Any, fragments: Any, variable_values: Any) -> Any: ...


@pytest.mark.parametrize("function", ["collect_fields", "collect_subfields"])
def test_a_changed_field_collection_stops_building_the_schema(
    monkeypatch: pytest.MonkeyPatch, function: str
) -> None:
    import graphql.execution.collect_fields as module

    monkeypatch.setattr(module, function, _collects_otherwise)
    with pytest.raises(IncompatibleLibrary) as raised:
        build_schema()
    assert f"collect_fields.{function} takes (schema, fragments, variable_values)" in str(
        raised.value
    )


def test_graphql_cores_collection_decides_skip_and_include_from_the_variables() -> None:
    """fastpath/collect.py collects with graphql-core's functions and the coerced variables."""
    from gateway.fastpath.collect import Collector

    schema = build_schema()._schema
    document = parse(
        "subscription S { sessionEvents { ... on SessionUpserted { syncToken @skip(if: $no) "
        "session { key @include(if: $yes) ...F } } } } fragment F on Session { target }"
    )
    operation, fragment = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    assert isinstance(fragment, FragmentDefinitionNode)
    assert schema.subscription_type is not None
    for yes, no, expected in ((True, False, ["syncToken", "session"]), (False, True, ["session"])):
        variables = {"yes": yes, "no": no}
        collector = Collector(schema, operation, {"F": fragment}, variables)
        [(root_key, details)] = collector.roots(schema.subscription_type)
        assert root_key == "sessionEvents"
        upserted = schema.get_type("SessionUpserted")
        assert isinstance(upserted, GraphQLObjectType)
        fields = collector.subfields(upserted, details)
        assert [name for name, _ in fields] == expected
        session = schema.get_type("Session")
        assert isinstance(session, GraphQLObjectType)
        below = dict(fields)["session"]
        assert [name for name, _ in collector.subfields(session, below)] == (
            ["key", "target"] if yes else ["target"]
        )


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (GraphQLCoreConverter, "DEFINITION_BACKREF"),
        (StrawberryField, "is_basic_field"),
        (BaseGraphQLTransportWSHandler, "_get_pre_execution_close_reason"),
        (BaseGraphQLWSHandler, "handle_connection_init"),
        (Schema, "_execute_operation"),
        (BaseGraphQLTransportWSHandler, "_send_result_stream"),
        (BaseGraphQLTransportWSHandler, "cleanup_operation"),
        (BaseGraphQLTransportWSHandler, "handle_task_exception"),
        (BaseGraphQLWSHandler, "handle_async_results"),
    ],
)
def test_each_strawberry_internal_that_goes_missing_is_named(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str
) -> None:
    monkeypatch.delattr(owner, name)
    assert_refused_naming("strawberry-graphql", name)


def assert_refused_naming(library: str, named: str) -> None:
    """``_compat.check()`` stops the start with one line: the library, its version, ``named``."""
    with pytest.raises(IncompatibleLibrary) as raised:
        _compat.check()
    message = str(raised.value)
    assert message.startswith(f"{library} {installed(library)}: ")
    assert named in message
    assert "\n" not in message


def _without_cycle(original: Any) -> Any:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        del self.cycle

    return init


@pytest.mark.parametrize(
    ("change", "library", "named"),
    [
        (lambda m: m.delattr(HttpToolsProtocol, "on_headers_complete"), "uvicorn",
         "on_headers_complete"),
        (lambda m: m.delattr(HttpToolsProtocol, "_should_upgrade"), "uvicorn", "_should_upgrade"),
        (lambda m: m.setattr(HttpToolsProtocol, "__init__",
                             _without_cycle(HttpToolsProtocol.__init__)), "uvicorn", "cycle"),
        (lambda m: m.delattr(uvicorn.Server, "_serve"), "uvicorn", "_serve"),
        (lambda m: m.delitem(STATUS_LINE, 431), "uvicorn", "431"),
        (lambda m: m.delattr(Protocol, "data_to_send"), "websockets", "data_to_send"),
    ],
    ids=["callback", "upgrade check", "request state", "serve", "status line", "frames"],
)  # fmt: skip
def test_each_server_internal_that_changes_is_named(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[pytest.MonkeyPatch], None],
    library: str, named: str,
) -> None:  # fmt: skip
    change(monkeypatch)
    assert_refused_naming(library, named)


def test_a_resolve_info_of_other_fields_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = (*_OperationContextAwareGraphQLResolveInfo._fields, "deadline")
    monkeypatch.setattr(_OperationContextAwareGraphQLResolveInfo, "_fields", fields)
    with pytest.raises(IncompatibleLibrary, match="resolve info"):
        _compat.check()


def test_gateway_serve_says_which_library_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, free_port: int
) -> None:
    monkeypatch.setattr(IncrementalExecutor, "execute_collected_subfields", _renamed)
    monkeypatch.setattr(cli, "configure_logging", lambda *_: None)  # the suite's logging stays
    env = {
        "GATEWAY_JWT_SECRET": SECRET,
        "GATEWAY_DATABASE_URL": str(tmp_path / "gw.db"),
        "GATEWAY_PORT": str(free_port),
    }
    result = CliRunner().invoke(main, ["serve"], env={**os.environ, **env})
    assert result.exit_code == 1
    assert result.output.startswith("Error: graphql-core ")
    assert result.output.count("\n") == 1
    assert "execute_collected_subfields" in result.output


# What the code that uses these internals relies on -------------------------------------------


@strawberry.type
class _Query:
    @strawberry.field
    def seen(self, info: strawberry.Info) -> int:
        _SEEN.append(sb.raw_info(info))
        return 1


_SEEN: list[Any] = []
_SCHEMA = strawberry.Schema(query=_Query)
_DOCUMENT = "query Q { a: seen ...F } fragment F on Query { seen }"


def test_resolve_info_is_the_one_strawberrys_executor_gives_a_resolver() -> None:
    _SEEN.clear()
    assert _SCHEMA.execute_sync(_DOCUMENT).errors is None
    given = {info.field_name: info for info in _SEEN}["seen"]

    schema = _SCHEMA._schema
    document = parse(_DOCUMENT)
    executor = sb.executor(schema, document, None, "Q", hide_suggestions=False)
    assert isinstance(executor, sb.ExecutionContext)
    root = schema.query_type
    assert root is not None
    grouped, defers, _ = gc.collect_fields(
        schema, executor.fragments, executor.variable_values, root, executor.operation, False
    )
    assert list(grouped) == ["a", "seen"]
    assert not defers
    details = list(grouped["seen"])
    assert [d.node for d in details] == given.field_nodes  # the fragment's field, merged once
    built = sb.resolve_info([d.node for d in details], root.fields["seen"].type, root,
                            given.path, schema, executor.fragment_definitions,
                            executor.operation)  # fmt: skip
    assert type(built) is type(given)
    same = ("field_name", "field_nodes", "return_type", "parent_type", "path", "schema",
            "fragments", "operation", "is_awaitable")  # fmt: skip
    assert {f: getattr(built, f) for f in same} == {f: getattr(given, f) for f in same}
    # What a request sets, by name (the compiled query's _replace):
    assert set(built._fields) >= {"root_value", "variable_values", "context", "async_helpers",
                                  "operation_extensions"}  # fmt: skip


class _Kind(enum.Enum):
    A = "a"
    B = "b"


@strawberry.input
class _Where:
    kinds: list[_Kind] | None = strawberry.UNSET
    name: str = "x"


_GOT: list[dict[str, Any]] = []


@strawberry.type
class _Calls:
    @strawberry.field
    def method(
        self, info: strawberry.Info, first: int | None = strawberry.UNSET,
        kinds: list[_Kind] | None = None, where: _Where | None = None,
        some_id: strawberry.ID | None = None,
    ) -> int:  # fmt: skip
        _GOT.append({"self": self, "info": info, "first": first, "kinds": kinds, "where": where,
                     "some_id": some_id})  # fmt: skip
        return 1

    @strawberry.field
    @staticmethod
    def rooted(root: Any, kind: _Kind = _Kind.A) -> int:
        _GOT.append({"root": root, "kind": kind})
        return 1


@strawberry.type
class _WithPermission:
    @strawberry.field(extensions=[FieldExtension()])  # type: ignore[untyped-decorator]
    def guarded(self) -> int:
        return 1


@pytest.mark.parametrize(
    ("field", "arguments"),
    [
        ("method", {}),
        ("method", {"first": 3, "kinds": [_Kind.B], "someId": "7"}),
        ("method", {"where": {"kinds": [_Kind.A, _Kind.B]}}),
        ("method", {"first": None, "where": {"name": "y"}}),
        ("rooted", {}),
        ("rooted", {"kind": _Kind.B}),
    ],
)
def test_a_resolver_called_without_strawberrys_wrapper_gets_what_the_wrapper_gives(
    field: str, arguments: dict[str, Any]
) -> None:
    """``sb.resolver_call`` calls a resolver as Strawberry's wrapper does: the same self or root,
    the same Info, the arguments converted alike (enums, input objects, unset ones left out)."""
    schema = strawberry.Schema(query=_Calls)._schema
    root = schema.query_type
    assert root is not None
    graphql_field = root.fields[field]
    operation = parse(f"{{ {field} }}").definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    nodes = [FieldNode(name=NameNode(value=field))]
    info = sb.resolve_info(nodes, graphql_field.type, root, None, schema, {}, operation)
    source = _Calls()
    call = sb.resolver_call(schema, graphql_field)
    assert call is not None
    assert graphql_field.resolve is not None
    _GOT.clear()
    graphql_field.resolve(source, info, **arguments)
    call(source, info, arguments, None)
    call(source, info, arguments, call.constant(arguments))
    wrapped, *direct = _GOT
    for got in direct:
        assert got.keys() == wrapped.keys()
        for name, value in got.items():
            if name == "info":
                assert type(value) is type(wrapped[name])
                assert sb.raw_info(value) is sb.raw_info(wrapped[name])
                assert sb.raw_info(value) == cast(Any, info)
                assert value._field is wrapped[name]._field
            else:
                assert value == wrapped[name], name
                assert type(value) is type(wrapped[name]), name


def test_only_arguments_no_resolver_can_change_are_converted_once() -> None:
    schema = strawberry.Schema(query=_Calls)._schema
    root = schema.query_type
    assert root is not None
    call = sb.resolver_call(schema, root.fields["method"])
    assert call is not None
    assert call.constant({"first": 3, "someId": "7"}) == {"first": 3, "some_id": "7"}
    assert call.constant({"kinds": [_Kind.B]}) is None  # a list
    assert call.constant({"where": {"name": "y"}}) is None  # an input object


def test_a_field_with_an_extension_goes_through_strawberrys_wrapper() -> None:
    schema = strawberry.Schema(query=_WithPermission)._schema
    root = schema.query_type
    assert root is not None
    assert sb.resolver_call(schema, root.fields["guarded"]) is None


def test_a_resolve_info_for_a_request_is_the_template_replaced() -> None:
    schema = _SCHEMA._schema
    root = schema.query_type
    assert root is not None
    operation = parse("{ seen }").definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    template = sb.resolve_info([FieldNode(name=NameNode(value="seen"))], root.fields["seen"].type,
                               root, None, schema, {}, operation)  # fmt: skip
    root_value, context, helpers = object(), object(), object()
    variables: dict[str, Any] = {"v": 1}
    extensions = {"e": 2}
    path = ResponsePath(None, "seen", "Query")
    built = sb.for_request(template, root_value, variables, context, helpers, extensions, path)
    assert type(built) is type(template)
    replaced = template._replace(root_value=root_value, variable_values=variables,
                                 context=context, async_helpers=cast(Any, helpers),
                                 operation_extensions=extensions)  # fmt: skip
    assert built == replaced._replace(path=path)
    assert sb.for_request(template, root_value, variables, context, helpers, extensions) == replaced


def test_plain_fields_are_read_as_attributes_and_others_are_not() -> None:
    schema = build_schema()._schema
    session = schema.type_map["Session"]
    message = schema.type_map["Message"]
    assert isinstance(session, GraphQLObjectType)
    assert isinstance(message, GraphQLObjectType)
    assert sb.object_origin(session) is Session
    assert sb.object_origin(message) is Message
    assert sb.attribute_name(session.fields["key"]) == "key"
    assert sb.attribute_name(message.fields["from"]) == "from_"
    assert sb.attribute_name(session.fields["groups"]) is None  # a resolver of its own
    getter = sb.attribute_getter(session.fields["unreadCount"])
    assert getter is not None
    page_info = schema.type_map["PageInfo"]
    assert isinstance(page_info, GraphQLObjectType)
    assert sb.attribute_name(page_info.fields["hasPreviousPage"]) is None


def test_strawberry_closes_for_a_syntax_error_and_answers_others() -> None:
    syntax = GraphQLSyntaxError(Source("{"), 1, "Expected Name")
    assert sb.pre_execution_close_reason(syntax) == syntax.message
    assert sb.pre_execution_close_reason(GraphQLError("Cannot query field 'x'.")) is None


@strawberry.input(one_of=True)
class _Either:
    left: str | None = strawberry.UNSET
    right: str | None = strawberry.UNSET


@strawberry.type
class _OneOfQuery:
    @strawberry.field
    def pick(self, either: _Either) -> str:
        return "picked"


def test_strawberrys_own_validation_rules_refuse_what_strawberry_refuses() -> None:
    schema = strawberry.Schema(query=_OneOfQuery)
    both = '{ pick(either: {left: "a", right: "b"}) }'
    refused = schema.execute_sync(both).errors
    assert refused
    ours = validate(schema._schema, parse(both), sb.VALIDATION_RULES)
    assert [e.message for e in ours] == [e.message for e in refused]
    assert (
        validate(schema._schema, parse('{ pick(either: {left: "a"}) }'), sb.VALIDATION_RULES) == []
    )
