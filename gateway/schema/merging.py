"""A bound on the work of graphql-core's OverlappingFieldsCanBeMerged, checked before it runs.

That rule compares every two fields that share a response key in a selection set (the fields of
fragments spread into it included), and for each such pair their sub-selections the same way:
repeats multiply. Within 2,000 tokens, 250 copies of ``edges { node { id key } }`` in one page
took 1.9 s of CPU to validate, and 16 ``edges`` of 16 ``node`` each 1.4 s.

``MergeCost`` bounds that work without doing it. Let the mass of a field be 1 plus the masses of
the fields in its sub-selection (fragments merged in). Comparing fields f and g costs at most
mass(f)·mass(g) (by induction: 1 plus the pairs of their sub-fields), so a selection set costs
at most the sum, over each of its response keys, of mass(f)·mass(g) for every two fields f, g
merged under that key: (M² - Σ mass²) / 2, M the key's total mass. The bound is the sum of that
over every selection set the rule visits. It is computed from each selection set once (a
fragment's once, wherever it is spread), without recursion: linear in the document.
Fragment cycles and unknown fragments count as empty here; graphql-core's rules report them. A
fragment reached along two paths counts twice: an over-estimate only for webs of fragments that
no client writes (each spreading every later one).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    SKIP,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionSetNode,
    ValidationRule,
)

MAX_MERGE_COST = 10_000  # the documents in clients/, docs/ and tests/ reach 24


class MergeCostRule(ValidationRule):
    """Refuses a document whose fields would cost OverlappingFieldsCanBeMerged more than
    ``MAX_MERGE_COST`` comparisons (a bound, see above). Ours runs before graphql-core's rules,
    which then never see such a document (schema/validation.py)."""

    def enter_document(self, node: DocumentNode, *_: object) -> object:
        cost = MergeCost(node).total()
        if cost > MAX_MERGE_COST:
            self.report_error(
                GraphQLError(
                    f"the query repeats fields too often: checking that they merge could take "
                    f"{cost} comparisons; at most {MAX_MERGE_COST} (ask for each field once)",
                    extensions={"code": "QUERY_TOO_COSTLY"},
                )
            )
        return SKIP


class MergeCost:
    def __init__(self, document: DocumentNode) -> None:
        self._document = document
        self._fragments = {
            d.name.value: d.selection_set
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        # Per selection set (by identity), each response key merged into it: the fields' total
        # mass and the sum of their masses squared.
        self._merged: dict[int, dict[str, tuple[int, int]]] = {}
        self.visited = 0  # selections looked at: each selection set's once

    def total(self) -> int:
        cost = 0
        for definition in self._document.definitions:
            selection_set = getattr(definition, "selection_set", None)
            if isinstance(selection_set, SelectionSetNode):
                self._merge(selection_set)
        for merged in self._merged.values():
            cost += sum((mass * mass - squares) // 2 for mass, squares in merged.values())
        return cost

    def _merge(self, root: SelectionSetNode) -> None:
        """Fills ``_merged`` for ``root`` and every selection set below it, children first."""
        merged, on_path = self._merged, set[int]()
        stack: list[tuple[SelectionSetNode, bool]] = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            if id(node) in merged:
                continue
            if children_done:
                merged[id(node)] = self._combine(node)
                on_path.discard(id(node))
                continue
            if id(node) in on_path:  # a fragment cycle: counted as empty where it closes
                continue
            on_path.add(id(node))
            stack.append((node, True))
            for child in self._children(node):
                if id(child) not in merged and id(child) not in on_path:
                    stack.append((child, False))

    def _children(self, node: SelectionSetNode) -> Iterator[SelectionSetNode]:
        for selection in node.selections:
            if isinstance(selection, FragmentSpreadNode):
                fragment = self._fragments.get(selection.name.value)
                if fragment is not None:
                    yield fragment
            elif (
                isinstance(selection, FieldNode | InlineFragmentNode)
                and selection.selection_set is not None
            ):
                yield selection.selection_set

    def _combine(self, node: SelectionSetNode) -> dict[str, tuple[int, int]]:
        merged = self._merged
        keys: dict[str, tuple[int, int]] = {}
        spread: set[str] = set()  # graphql-core merges a fragment once per selection set
        for selection in node.selections:
            self.visited += 1
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                below = selection.selection_set
                mass = 1
                if below is not None:
                    mass += sum(total for total, _ in merged.get(id(below), {}).values())
                total, squares = keys.get(key, (0, 0))
                keys[key] = (total + mass, squares + mass * mass)
                continue
            if isinstance(selection, FragmentSpreadNode):
                if selection.name.value in spread:
                    continue
                spread.add(selection.name.value)
                inner = self._fragments.get(selection.name.value)
            else:
                assert isinstance(selection, InlineFragmentNode)
                inner = selection.selection_set
            for key, (mass, squares) in merged.get(id(inner), {}).items():
                total, squared = keys.get(key, (0, 0))
                keys[key] = (total + mass, squared + squares)
        return keys
