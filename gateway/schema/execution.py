"""A faster execution of plain sub-selections.

graphql-core executes every field of every object through the same general machinery: resolve
info, awaitable checks, error paths. Most of a session page is plain data: attributes of objects
this schema built, scalars and enums. For such a selection this execution context compiles a plan
once per request (a list of "read this attribute, serialize it like this" steps) and runs it per
object. Anything else (resolvers with logic, awaitables, @defer, a null in a non-null field) goes
through graphql-core as before, so results and errors are exactly the same.

Plans outlive the request when they can: parsing is cached, so a document sent again is the same
syntax tree, and a sub-selection is named by its field nodes. Where the document has no
directives, variables cannot change which fields are collected, and the plan compiled for those
nodes is reused (a bounded cache that holds the nodes, so their ids stay theirs). A document
with directives (@include, @skip, @defer) compiles its plans per request, as before.

A plain field is one Strawberry itself resolves by reading an attribute: a field with no resolver
and no field extensions, as the field's Strawberry definition says (``_compat.strawberry``).
The plan hooks into graphql-core's executor where it executes an object's collected sub-fields, a
method graphql-core does not promise to keep: ``_compat.graphql_core`` checks it at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from cachetools import LRUCache
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    is_leaf_type,
)
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway._compat import strawberry as sb

if TYPE_CHECKING:
    from graphql.execution.collect_fields import DeferUsage, FieldDetailsList, GroupedFieldSet
    from graphql.execution.incremental.incremental_executor import DeliveryGroupMap

Plan = Callable[[Any], dict[str, Any]]
Complete = Callable[[Any], Any]


class _Unplannable(Exception):
    """This value needs graphql-core's full completion (for its error or its awaitable)."""


class PlanningExecutionContext(StrawberryGraphQLCoreExecutionContext):
    # Across requests: plans by their field nodes, and whether an operation has directives.
    _shared_plans: ClassVar[LRUCache[tuple[object, ...], tuple[object, Plan | None]]] = LRUCache(
        maxsize=4096
    )
    _directive_free: ClassVar[LRUCache[int, tuple[object, bool]]] = LRUCache(maxsize=1024)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[GraphQLObjectType, int], Plan | None] = {}
        self._reusable = self._without_directives()

    def _without_directives(self) -> bool:
        operation: OperationDefinitionNode = self.operation
        known = self._directive_free.get(id(operation))
        if known is None or known[0] is not operation:
            free = operation_directive_free(operation, self.fragment_definitions.values())
            known = (operation, free)
            self._directive_free[id(operation)] = known
        return known[1]

    def execute_collected_subfields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path,
        grouped_field_set: GroupedFieldSet,
        new_defer_usages: Sequence[DeferUsage],
        delivery_group_map: DeliveryGroupMap | None,
    ) -> AwaitableOrValue[dict[str, Any]]:
        if not new_defer_usages:
            plan = self._plan(parent_type, grouped_field_set)
            if plan is not None:
                try:
                    return plan(source_value)
                except _Unplannable:
                    pass
        return super().execute_collected_subfields(
            parent_type, source_value, path, grouped_field_set, new_defer_usages, delivery_group_map
        )

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> Plan | None:
        key = (parent_type, id(grouped_field_set))
        if key not in self._plans:
            self._plans[key] = self._shared_plan(parent_type, grouped_field_set)
        return self._plans[key]

    def _shared_plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> Plan | None:
        if not self._reusable:
            return self._compile(parent_type, grouped_field_set)
        items = _items(grouped_field_set)
        nodes = tuple(details.node for _, group in items for details in group)
        # The entry holds its nodes: while it lives, no other node can have their ids.
        name = (parent_type, *(key for key, _ in items), *(len(g) for _, g in items),
                *map(id, nodes))  # fmt: skip
        known = self._shared_plans.get(name)
        if known is None:
            known = (nodes, self._compile(parent_type, grouped_field_set))
            self._shared_plans[name] = known
        return known[1]

    def _compile(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> Plan | None:
        steps: list[tuple[str, Callable[[Any], Any], Complete]] = []
        for response_key, field_details_list in _items(grouped_field_set):
            name = field_details_list[0].node.name.value
            if name == "__typename":
                steps.append((response_key, _none, _constant(parent_type.name)))
                continue
            field = parent_type.fields.get(name)
            getter = None if field is None else sb.attribute_getter(field)
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
        self, return_type: GraphQLOutputType, field_details_list: FieldDetailsList
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
        self, return_type: GraphQLOutputType, field_details_list: FieldDetailsList
    ) -> Complete | None:
        if is_leaf_type(return_type):
            return _serializer(return_type)
        if isinstance(return_type, GraphQLList):
            item = self._completer(return_type.of_type, field_details_list)
            if item is None:
                return None
            return lambda values: [item(value) for value in values]
        if not isinstance(return_type, GraphQLObjectType):
            return None  # interfaces and unions resolve their type first: the general path
        try:
            grouped, defers, _ = self.collect_subfields(return_type, field_details_list)
        except GraphQLError:
            # A directive's variable that does not fit (an explicit null for `if`): graphql-core
            # reports it at this field, and only once it has a value to complete; planned, the
            # parent would raise it. Unplanned, graphql-core completes the parent.
            return None
        plan = None if defers else self._plan(return_type, grouped)
        if plan is None or return_type.is_type_of is None:
            return plan
        # A type that implements an interface checks its objects' class (is_type_of): an object
        # of exactly the type's class passes; graphql-core checks any other.
        origin, planned = sb.object_origin(return_type), plan
        if origin is None:
            return None

        def checked(value: Any) -> dict[str, Any]:
            if type(value) is not origin:
                raise _Unplannable
            return planned(value)

        return checked


def operation_directive_free(
    operation: OperationDefinitionNode, fragments: Iterable[FragmentDefinitionNode]
) -> bool:
    """Whether neither the operation nor any fragment uses a directive anywhere: then the
    variables cannot change which fields are collected."""
    return (
        not operation.directives
        and directive_free(operation.selection_set)
        and all(not f.directives and directive_free(f.selection_set) for f in fragments)
    )


def directive_free(selection_set: SelectionSetNode | None) -> bool:
    if selection_set is None:
        return True
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, FieldNode | InlineFragmentNode) and not directive_free(
            selection.selection_set
        ):
            return False
    return True


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


def _items(grouped_field_set: GroupedFieldSet) -> Sequence[tuple[str, FieldDetailsList]]:
    if isinstance(grouped_field_set, Mapping):
        return list(grouped_field_set.items())
    return list(grouped_field_set)
