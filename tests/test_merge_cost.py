"""Repeated fields: graphql-core's OverlappingFieldsCanBeMerged compares every two fields that
share a response key, and their sub-fields pair by pair, so repeats multiply. The gateway bounds
that work before the rule runs (schema/merging.py) and refuses a document past the bound with
QUERY_TOO_COSTLY: the bound holds, costs one look at each selection, and every document our
clients, docs and tests send is far below it."""

from __future__ import annotations

from collections.abc import Callable

import graphql.validation.rules.overlapping_fields_can_be_merged as overlapping
import pytest
from graphql import parse, specified_rules, validate

from gateway.schema import build_schema
from gateway.schema.merging import MAX_MERGE_COST, MergeCost
from tests.graphql_corpus import collect
from tests.helpers import GraphQLClient
from tests.test_query_cost import WORST_CASES, largest_within_tokens, selections

SCHEMA = build_schema()._schema


def repeated_edges(edges: int, nodes: int) -> str:
    """One page whose `edges` field is written ``edges`` times, each with ``nodes`` `node`s."""
    edge = "edges { " + "node { id key } " * nodes + "} "
    return "{ sessions(first: 1) { " + edge * edges + "} }"


def repeated_leaf(count: int) -> str:
    return "{ " + "totalUnreadCount " * count + "}"


def fragments_of_one_field(count: int) -> str:
    """``count`` fragments, each asking for the same field, spread into one selection set."""
    spreads = " ".join(f"...F{n}" for n in range(count))
    fragments = " ".join(f"fragment F{n} on Query {{ totalUnreadCount }}" for n in range(count))
    return f"{{ {spreads} }} {fragments}"


SHAPES: dict[str, Callable[[int], str]] = {
    "repeated edges": lambda n: repeated_edges(n, 1),
    "repeated edges of repeated nodes": lambda n: repeated_edges(n, n),
    "repeated leaf": repeated_leaf,
    "fragments of one field": fragments_of_one_field,
    "inline fragments": lambda n: "{ " + "... on Query { sessions { totalCount } } " * n + "}",
    "fragments of fragments": lambda n: (
        "{ sessions { ...A ...B edges { node { id } } } } "
        "fragment A on SessionConnection { edges { ...N ...N } totalCount } "
        "fragment B on SessionConnection { edges { ...N node { key } } } "
        "fragment N on SessionEdge { " + "node { id key } " * n + "}"
    ),
}


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many pairs of fields graphql-core's rule has compared (its recursive calls too)."""
    count = [0]
    compare = overlapping.find_conflict

    def counted(*args: object, **kwargs: object) -> object:
        count[0] += 1
        return compare(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(overlapping, "find_conflict", counted)
    return count


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_the_bound_is_never_below_the_comparisons_graphql_core_makes(
    shape: Callable[[int], str], size: int, comparisons: list[int]
) -> None:
    document = parse(shape(size))
    assert validate(SCHEMA, document, specified_rules) == []
    assert comparisons[0] <= MergeCost(document).total()


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_the_bound_takes_one_look_at_each_selection(shape: Callable[[int], str]) -> None:
    document = parse(largest_within_tokens(shape))
    cost = MergeCost(document)
    cost.total()
    assert 0 < cost.visited <= selections(document)


@pytest.mark.parametrize("build", WORST_CASES.values(), ids=WORST_CASES.keys())
def test_fragment_webs_within_the_token_limit_take_one_look_at_each_selection(
    build: Callable[[], str],
) -> None:
    document = parse(build())
    cost = MergeCost(document)
    cost.total()
    assert 0 < cost.visited <= selections(document)


def test_what_clients_docs_and_tests_send_is_far_below_the_bound() -> None:
    costs = {d.place: MergeCost(d.node).total() for d in collect()}
    assert max(costs.values()) <= MAX_MERGE_COST // 100, sorted(costs.items(), key=lambda c: c[1])


REFUSED = {
    # Each within the 2,000-token limit; before the bound, 0.3-1.9 s of CPU each to validate.
    "200 edges": repeated_edges(200, 1),
    "16 edges of 16 nodes": repeated_edges(16, 16),
    "1,000 copies of a leaf": repeated_leaf(1000),  # was "Validation aborted" (recursion)
    "180 fragments of one field": fragments_of_one_field(180),
}


@pytest.mark.parametrize("query", REFUSED.values(), ids=REFUSED.keys())
async def test_a_document_past_the_bound_is_refused_before_graphql_core_compares_a_field(
    alice: GraphQLClient, comparisons: list[int], query: str
) -> None:
    result = await alice(query)
    assert result.data is None
    assert result.codes == ["QUERY_TOO_COSTLY"]
    assert "repeats fields too often" in result.errors[0]["message"]
    assert comparisons[0] == 0


async def test_a_document_at_the_bound_is_answered(
    alice: GraphQLClient, comparisons: list[int]
) -> None:
    size = max(
        n for n in range(1, 200) if MergeCost(parse(repeated_leaf(n))).total() <= MAX_MERGE_COST
    )
    assert (await alice(repeated_leaf(size))).errors == []
    assert 0 < comparisons[0] <= MAX_MERGE_COST
    assert (await alice(repeated_leaf(size + 1))).codes == ["QUERY_TOO_COSTLY"]
