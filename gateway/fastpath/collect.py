"""Field collection, graphql-core's own: which fields an operation selects on an object type,
under which response keys, in which order (fragments spread once, fields merged, @skip and
@include evaluated with the operation's variables).

Compiled code collects once, when it is compiled, with ``collect_fields`` and
``collect_subfields`` of ``graphql.execution.collect_fields`` (through ``_compat.graphql_core``:
they are not exported), so it selects exactly what graphql-core's executor would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.execution.values import VariableValues

from gateway._compat import graphql_core as gc

# A response key and the details of the field nodes collected under it (``FieldDetails``:
# the node, its @defer usage, its fragment variables).
Collected = Sequence[tuple[str, Sequence[Any]]]


class NotCompilable(Exception):
    """The selection uses what compiled code does not cover: it runs on graphql-core."""


class Collector:
    """graphql-core's field collection for one operation, with its variables' values."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        *,
        hide_suggestions: bool = False,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragment_definitions = dict(fragments)
        self._fragments = {name: gc.FragmentDetails(f) for name, f in fragments.items()}
        # Only @skip and @include read them, from the coerced values.
        self._variables = VariableValues({}, dict(variables))
        self.hide_suggestions = hide_suggestions

    def roots(self, root_type: GraphQLObjectType) -> Collected:
        collected = gc.collect_fields(self.schema, self._fragments, self._variables, root_type,
                                      self.operation, self.hide_suggestions)  # fmt: skip
        return self._plain(collected)

    def subfields(self, object_type: GraphQLObjectType, details: Sequence[Any]) -> Collected:
        try:
            collected = gc.collect_subfields(self.schema, self._fragments, self._variables,
                                             self.operation, object_type, list(details),
                                             self.hide_suggestions)  # fmt: skip
        except GraphQLError:
            # A directive's variable that does not fit (an explicit null for `if`): graphql-core
            # reports it at the field, once the field has a value to complete.
            raise NotCompilable from None
        return self._plain(collected)

    @staticmethod
    def _plain(collected: Any) -> Collected:
        grouped, defers, _ = collected
        if defers:
            raise NotCompilable  # @defer: incremental delivery is graphql-core's
        items = list(grouped.items() if isinstance(grouped, Mapping) else grouped)
        for _, details in items:
            if any(getattr(d, "fragment_variable_values", None) is not None for d in details):
                raise NotCompilable  # fragment arguments: their values are per spread
        return items


def directive_free(
    operation: OperationDefinitionNode, fragments: Iterable[FragmentDefinitionNode]
) -> bool:
    """Whether neither the operation nor any fragment uses a directive anywhere: then the
    variables cannot change which fields are collected."""
    return (
        not operation.directives
        and _selection_directive_free(operation.selection_set)
        and all(not f.directives and _selection_directive_free(f.selection_set) for f in fragments)
    )


def _selection_directive_free(selection_set: SelectionSetNode | None) -> bool:
    if selection_set is None:
        return True
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, FieldNode | InlineFragmentNode) and not (
            _selection_directive_free(selection.selection_set)
        ):
            return False
    return True


def directive_variables(
    operation: OperationDefinitionNode, fragments: Iterable[FragmentDefinitionNode]
) -> frozenset[str]:
    """The variables the operation's directives read: the only ones its collection depends on."""
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
