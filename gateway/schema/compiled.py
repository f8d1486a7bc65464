"""A subscription's selection compiled once: the response data for an event, without
graphql-core's general executor.

Every event of a subscription runs the same selection over a new root value. graphql-core
collects fields, builds resolve info and checks awaitables per field per event; for a selection
of plain data (attributes of objects this schema built, scalars, enums, unions of such objects)
the same result is a fixed list of "read this attribute, complete it like this" steps, compiled
here once per operation (and per value of the variables its @skip / @include read).

``compile_operation`` returns None for what it does not cover (fields with resolvers, other
directives, interfaces it cannot tell apart); the compiled callable raises ``NotCompiled`` for a
value it cannot complete exactly as graphql-core would (a null in a non-null field, a scalar that
does not serialize, an object of another class). Either way the caller takes the general path,
which produces the result, errors included. Field collection follows graphql-core's
``collect_fields``: response keys in the order they first appear, fragments spread once per
selection, type conditions matched as ``does_fragment_condition_match`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLIncludeDirective,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    is_abstract_type,
    is_leaf_type,
    type_from_ast,
)
from graphql.execution.values import VariableValues, get_directive_values
from graphql.pyutils import Undefined

from gateway._compat import strawberry as sb

Compiled = Callable[[Any], dict[str, Any]]
_Complete = Callable[[Any], Any]
_SKIP_AND_INCLUDE = frozenset({GraphQLSkipDirective.name, GraphQLIncludeDirective.name})


class NotCompiled(Exception):
    """This value needs graphql-core's general execution (for its error, or its type)."""


class _Unsupported(Exception):
    """The selection uses what the compiler does not cover."""


def compile_operation(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> Compiled | None:
    """The data of ``operation`` (a subscription) for one event as root value, or None when the
    selection needs the general executor. ``variables`` are the coerced values (as resolvers
    see them)."""
    if operation.operation is not OperationType.SUBSCRIPTION or schema.subscription_type is None:
        return None
    # Only @skip and @include read them, from the coerced values.
    compiler = _Compiler(schema, fragments, VariableValues({}, dict(variables)))
    try:
        root = schema.subscription_type
        grouped = compiler.collect(root, [operation.selection_set])
        steps: list[tuple[str, _Complete]] = []
        for key, nodes in grouped.items():
            field = root.fields.get(nodes[0].name.value)
            if field is None:
                return None
            # A subscription's root field resolves to the event itself (Strawberry's resolve).
            steps.append((key, compiler.completer(field.type, nodes)))
    except _Unsupported:
        return None

    def data(event: Any) -> dict[str, Any]:
        return {key: complete(event) for key, complete in steps}

    return data


def directive_variables(
    operation: OperationDefinitionNode, fragments: Iterable[FragmentDefinitionNode]
) -> frozenset[str]:
    """The variables that @skip / @include read: the only ones a compilation depends on."""
    names: set[str] = set()

    def visit(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            for directive in selection.directives or ():
                for argument in directive.arguments or ():
                    name = getattr(argument.value, "name", None)
                    if name is not None:
                        names.add(name.value)
            if isinstance(selection, FieldNode | InlineFragmentNode):
                visit(selection.selection_set)

    visit(operation.selection_set)
    for fragment in fragments:
        visit(fragment.selection_set)
    return frozenset(names)


class _Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def collect(
        self, runtime_type: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def visit(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self._included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    grouped.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if self._matches(selection.type_condition, runtime_type):
                        visit(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in visited:
                        continue
                    visited.add(name)
                    fragment = self.fragments.get(name)
                    if fragment is not None and self._matches(
                        fragment.type_condition, runtime_type
                    ):
                        visit(fragment.selection_set)

        for selection_set in selection_sets:
            visit(selection_set)
        return grouped

    def _included(self, node: SelectionNode) -> bool:
        if not node.directives:
            return True
        if any(d.name.value not in _SKIP_AND_INCLUDE for d in node.directives):
            raise _Unsupported  # @defer, @stream, anything else: the general path
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip["if"] is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include and include["if"] is False)

    def _matches(self, condition: NamedTypeNode | None, runtime_type: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        conditional = type_from_ast(self.schema, condition)
        if conditional is runtime_type:
            return True
        if is_abstract_type(conditional):
            return self.schema.is_sub_type(conditional, runtime_type)
        return False

    def completer(self, return_type: GraphQLOutputType, nodes: list[FieldNode]) -> _Complete:
        if isinstance(return_type, GraphQLNonNull):
            inner = self._nullable(return_type.of_type, nodes)

            def non_null(value: Any) -> Any:
                if value is None:
                    raise NotCompiled  # graphql-core reports the error
                return inner(value)

            return non_null
        complete = self._nullable(return_type, nodes)
        return lambda value: None if value is None else complete(value)

    def _nullable(self, return_type: GraphQLOutputType, nodes: list[FieldNode]) -> _Complete:
        if is_leaf_type(return_type):
            serialize = return_type.serialize

            def leaf(value: Any) -> Any:
                try:
                    serialized = serialize(value)
                except Exception:  # graphql-core reports it as the field's error
                    raise NotCompiled from None
                if serialized is None or serialized is Undefined:
                    raise NotCompiled
                return serialized

            return leaf
        if isinstance(return_type, GraphQLList):
            item = self.completer(return_type.of_type, nodes)

            def items(values: Any) -> list[Any]:
                if type(values) is not list:
                    raise NotCompiled
                return [item(value) for value in values]

            return items
        selection_sets = [node.selection_set for node in nodes if node.selection_set]
        if isinstance(return_type, GraphQLObjectType):
            origin, plan = self._object(return_type, selection_sets)

            def of_class(value: Any) -> dict[str, Any]:
                if type(value) is not origin:
                    raise NotCompiled
                return plan(value)

            return of_class
        if is_abstract_type(return_type):
            return self._abstract(return_type, selection_sets)
        raise _Unsupported

    def _abstract(
        self, return_type: GraphQLAbstractType, selection_sets: list[SelectionSetNode]
    ) -> _Complete:
        # Each possible type's objects are of its Strawberry class, which is how Strawberry
        # resolves the type of such an object; an object of any other class goes the general way.
        by_class = dict(
            self._object(possible, selection_sets)
            for possible in self.schema.get_possible_types(return_type)
        )

        def abstract(value: Any) -> dict[str, Any]:
            plan = by_class.get(type(value))
            if plan is None:
                raise NotCompiled
            return plan(value)

        return abstract

    def _object(
        self, object_type: GraphQLObjectType, selection_sets: list[SelectionSetNode]
    ) -> tuple[type, Compiled]:
        origin = sb.object_origin(object_type)
        if origin is None:
            raise _Unsupported
        steps: list[tuple[str, Callable[[Any], Any], _Complete]] = []
        for key, nodes in self.collect(object_type, selection_sets).items():
            name = nodes[0].name.value
            if name == "__typename":
                steps.append((key, _none, _constant(object_type.name)))
                continue
            field = object_type.fields.get(name)
            getter = None if field is None else sb.attribute_getter(field)
            if field is None or getter is None:
                raise _Unsupported
            steps.append((key, getter, self.completer(field.type, nodes)))

        # The last object completed, and its data: a fan-out hands every member of a team the
        # same message object (schema/types.py), completed once. Data is never mutated.
        last: list[Any] = [None, None]

        def plan(source: Any) -> dict[str, Any]:
            if source is last[0]:
                known: dict[str, Any] = last[1]
                return known
            data = {key: complete(get(source)) for key, get, complete in steps}
            last[0], last[1] = source, data
            return data

        return origin, plan


def _none(_: Any) -> None:
    return None


def _constant(value: str) -> _Complete:
    return lambda _: value
