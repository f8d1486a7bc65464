"""Plans: plain sub-selections completed by compiled code inside graphql-core's executor.

What does not run as a compiled query (a mutation, a subscription's general path, a query's
first execution) runs on graphql-core, which executes every field of every object through its
general machinery. Most of what these operations return is plain data: attributes of objects
this schema built, scalars and enums. This executor completes such a sub-selection with a
function from the one completer builder (``completion.py``, without resolver calls); anything
else (a resolver, @defer, a null in a non-null field, an error) goes through graphql-core as
before, so results and errors are exactly the same. A document with directives is left to
graphql-core whole: its variables decide what is collected.

Plans outlive the request: parsing is cached, so a document sent again is the same syntax
tree, and a sub-selection is named by its field nodes (a bounded cache that holds the nodes, so
their ids stay theirs). The plan hooks into graphql-core's executor where it executes an
object's collected sub-fields, a method graphql-core does not promise to keep:
``_compat.graphql_core`` checks it at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from cachetools import LRUCache
from graphql import GraphQLObjectType, OperationDefinitionNode
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway.fastpath.collect import Collector, NotCompilable, directive_free
from gateway.fastpath.completion import Complete, Completion

if TYPE_CHECKING:
    from graphql.execution.collect_fields import DeferUsage, GroupedFieldSet
    from graphql.execution.incremental.incremental_executor import DeliveryGroupMap


class PlanningExecutionContext(StrawberryGraphQLCoreExecutionContext):
    # Across requests: plans by their field nodes, and whether an operation has directives.
    _plans: ClassVar[LRUCache[tuple[object, ...], tuple[object, Complete | None]]] = LRUCache(
        maxsize=4096
    )
    _directive_free: ClassVar[LRUCache[int, tuple[object, bool]]] = LRUCache(maxsize=1024)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._planned = self._without_directives()

    def _without_directives(self) -> bool:
        operation: OperationDefinitionNode = self.operation
        known = self._directive_free.get(id(operation))
        if known is None or known[0] is not operation:
            known = (operation, directive_free(operation, self.fragment_definitions.values()))
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
        if self._planned and not new_defer_usages:
            plan = self._plan(parent_type, grouped_field_set)
            if plan is not None:
                try:
                    return plan(source_value, None, None)  # type: ignore[no-any-return]
                except Exception:  # noqa: S110  # Deopt, or an error graphql-core reports
                    pass
        return super().execute_collected_subfields(
            parent_type, source_value, path, grouped_field_set, new_defer_usages, delivery_group_map
        )

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> Complete | None:
        items = _items(grouped_field_set)
        nodes = tuple(details.node for _, group in items for details in group)
        # The entry holds its nodes: while it lives, no other node can have their ids.
        name = (parent_type, *(key for key, _ in items), *(len(g) for _, g in items),
                *map(id, nodes))  # fmt: skip
        known = self._plans.get(name)
        if known is None:
            known = (nodes, self._compile(parent_type, items))
            self._plans[name] = known
        return known[1]

    def _compile(self, parent_type: GraphQLObjectType, items: Any) -> Complete | None:
        collector = Collector(self.schema, self.operation, self.fragment_definitions, {},
                              hide_suggestions=self.hide_suggestions)  # fmt: skip
        try:
            return Completion(collector).object_fields(parent_type, items)
        except NotCompilable:
            return None


def _items(grouped_field_set: GroupedFieldSet) -> Sequence[tuple[str, Any]]:
    if isinstance(grouped_field_set, Mapping):
        return list(grouped_field_set.items())
    return list(grouped_field_set)
