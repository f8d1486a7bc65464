"""A faster execution of plain sub-selections.

graphql-core executes every field of every object through the same general machinery: resolve
info, awaitable checks, error paths. Most of a session page is plain data: attributes of objects
this schema built, scalars and enums. For such a selection this execution context compiles a plan
once per request (a list of "read this attribute, serialize it like this" steps) and runs it per
object. Anything else (resolvers with logic, awaitables, @defer, a null in a non-null field) goes
through graphql-core as before, so results and errors are exactly the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graphql import (
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

PLAIN = "_gateway_plain_attribute"  # set on resolvers that only read an attribute

Plan = Callable[[Any], dict[str, Any]]
Complete = Callable[[Any], Any]


class _Unplannable(Exception):
    """This value needs graphql-core's full completion (for its error or its awaitable)."""


class PlanningExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[GraphQLObjectType, int], Plan | None] = {}

    def execute_collected_subfields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path,
        grouped_field_set: Any,
        new_defer_usages: Sequence[Any],
        position_context: Any,
    ) -> Any:
        if not new_defer_usages:
            plan = self._plan(parent_type, grouped_field_set)
            if plan is not None:
                try:
                    return plan(source_value)
                except _Unplannable:
                    pass
        return super().execute_collected_subfields(
            parent_type, source_value, path, grouped_field_set, new_defer_usages, position_context
        )

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Plan | None:
        key = (parent_type, id(grouped_field_set))
        if key not in self._plans:
            self._plans[key] = self._compile(parent_type, grouped_field_set)
        return self._plans[key]

    def _compile(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Plan | None:
        steps: list[tuple[str, Callable[[Any], Any], Complete]] = []
        for response_key, field_details_list in _items(grouped_field_set):
            name = field_details_list[0].node.name.value
            if name == "__typename":
                steps.append((response_key, _none, _constant(parent_type.name)))
                continue
            field = parent_type.fields.get(name)
            getter = getattr(field.resolve, PLAIN, None) if field is not None else None
            if field is None or getter is None:
                return None
            complete = self._completer(field.type, field_details_list)
            if complete is None:
                return None
            steps.append((response_key, getter, complete))

        def run(source: Any) -> dict[str, Any]:
            return {key: complete(getter(source)) for key, getter, complete in steps}

        return run

    def _completer(
        self, return_type: GraphQLOutputType, field_details_list: Any
    ) -> Complete | None:
        if isinstance(return_type, GraphQLNonNull):
            inner = self._completer(return_type.of_type, field_details_list)
            if inner is None:
                return None

            def non_null(value: Any) -> Any:
                if value is None:
                    raise _Unplannable  # graphql-core reports the error
                return inner(value)

            return non_null
        complete = self._nullable_completer(return_type, field_details_list)
        if complete is None:
            return None
        return lambda value: None if value is None else complete(value)

    def _nullable_completer(
        self, return_type: GraphQLOutputType, field_details_list: Any
    ) -> Complete | None:
        if is_leaf_type(return_type):
            return _serializer(return_type)
        if isinstance(return_type, GraphQLList):
            item = self._completer(return_type.of_type, field_details_list)
            if item is None:
                return None
            return lambda values: [item(value) for value in values]
        if isinstance(return_type, GraphQLObjectType) and return_type.is_type_of is None:
            grouped, defers, _ = self.collect_subfields(return_type, field_details_list)
            if defers:
                return None
            return self._plan(return_type, grouped)
        return None  # interfaces and unions resolve their type first: the general path


def _none(_: Any) -> None:
    return None


def _constant(value: str) -> Complete:
    return lambda _: value


def _serializer(leaf: GraphQLLeafType) -> Complete:
    serialize = leaf.serialize

    def complete(value: Any) -> Any:
        serialized = serialize(value)
        if serialized is None:
            raise _Unplannable
        return serialized

    return complete


def _items(grouped_field_set: Any) -> Sequence[tuple[str, Any]]:
    if isinstance(grouped_field_set, Mapping):
        return list(grouped_field_set.items())
    return list(grouped_field_set)
