"""Query limits: each holds at exactly its value and refuses one past it; checking them costs work
linear in the document, whatever its fragments do; introspection is metered like data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    ValidationContext,
    Visitor,
    get_introspection_query,
    parse,
    specified_rules,
    validate,
    visit,
)

from gateway.schema import build_schema
from gateway.schema.limits import DocumentCost, QueryLimits, query_cost_rule
from tests.helpers import GraphQLClient

LIMITS = QueryLimits()
SCHEMA = build_schema(LIMITS)._schema


def fragment_doubling(levels: int, leaf: str = "__typename") -> str:
    """Each fragment spreads the next one twice: 2^levels expansions in ~10 tokens a level."""
    fragments = " ".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)
    )
    return f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ {leaf} }}"


def fragment_fan(count: int) -> str:
    """Each fragment spreads every later one: a dense DAG of fragments."""
    fragments = " ".join(
        f"fragment F{n} on Query {{ __typename "
        + " ".join(f"...F{m}" for m in range(n + 1, count))
        + " }"
        for n in range(count)
    )
    return f"query {{ ...F0 }} {fragments}"


def introspection_doubling(levels: int) -> str:
    """The doubling inside introspection, where depth is not counted, with aliases at each level."""
    fragments = " ".join(
        f"fragment T{n} on __Type {{ a{n}: name ...T{n + 1} ...T{n + 1} }}" for n in range(levels)
    )
    leaf = f"fragment T{levels} on __Type {{ kind }}"
    return f"{{ __schema {{ types {{ ...T0 }} }} }} {fragments} {leaf}"


def largest_within_tokens(build: Callable[[int], str]) -> str:
    """The largest document ``build`` makes within the token limit (``build``'s documents grow
    with their size: found by doubling, then bisecting, in a few dozen parses)."""
    low, high = 1, 2
    while _fits(build(high)):
        low, high = high, high * 2
    while high - low > 1:  # build(low) fits, build(high) does not
        middle = (low + high) // 2
        low, high = (middle, high) if _fits(build(middle)) else (low, middle)
    return build(low)


def _fits(query: str) -> bool:
    try:
        parse(query, max_tokens=LIMITS.max_tokens)
    except Exception:
        return False
    return True


def selections(document: DocumentNode) -> int:
    """Fields, inline fragments and fragment spreads written in the document."""
    count = 0

    class Count(Visitor):
        def enter(self, node: object, *_: object) -> None:
            nonlocal count
            if isinstance(node, FieldNode | InlineFragmentNode | FragmentSpreadNode):
                count += 1

    visit(document, Count())
    return count


WORST_CASES = {
    "fragment-doubling": lambda: largest_within_tokens(fragment_doubling),
    "fragment-fan": lambda: largest_within_tokens(fragment_fan),
    "introspection-doubling": lambda: largest_within_tokens(introspection_doubling),
}


@pytest.mark.parametrize("build", WORST_CASES.values(), ids=WORST_CASES.keys())
def test_the_cost_of_any_document_within_the_token_limit_takes_linear_work(
    build: Callable[[], str],
) -> None:
    document = parse(build(), max_tokens=LIMITS.max_tokens)
    cost = DocumentCost(document)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            cost.of(definition)
    # Every selection written in the document is looked at once at most, however often it is
    # spread: fragments are summed up once and their sums reused.
    assert 0 < cost.visited <= selections(document)


def test_fragment_doubling_is_counted_in_full_and_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups = 0
    get_fragment = ValidationContext.get_fragment

    def counted(self: ValidationContext, name: str) -> object:
        nonlocal lookups
        lookups += 1
        return get_fragment(self, name)

    monkeypatch.setattr(ValidationContext, "get_fragment", counted)
    aliased = fragment_doubling(16, leaf="a: __typename")
    errors = validate(SCHEMA, parse(aliased), [*specified_rules, query_cost_rule(LIMITS)])
    # The cost is that of the document expanded (2^16 aliases) ...
    assert [e.extensions for e in errors] == [{"code": "TOO_MANY_ALIASES"}]
    assert "65536 aliases" in errors[0].message
    # ... found without expanding it: the whole validation looks each fragment up a few times.
    spreads = 2 * 16 + 1
    assert lookups <= 4 * spreads


def test_the_worst_document_within_the_token_limit_is_accepted() -> None:
    query = largest_within_tokens(fragment_doubling)
    assert validate(SCHEMA, parse(query), [*specified_rules, query_cost_rule(LIMITS)]) == []


# Limits through the real app, each at its value and one past it -------------------------------


@pytest.fixture
async def small_limits(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> AsyncIterator[GraphQLClient]:
    async with app_with(max_query_depth=4) as http:
        yield GraphQLClient(http, token_for("alice"))


async def outcome(client: GraphQLClient, query: str) -> str:
    """ "ok", or the code of the one error that refused the document."""
    result = await client(query)
    if not result.errors:
        return "ok"
    assert result.data is None, result.errors
    [code] = result.codes
    return code


def aliases(count: int, field: str = "__typename") -> str:
    return "{ " + " ".join(f"a{n}: {field}" for n in range(count)) + " }"


def introspection_aliases(count: int) -> str:
    return "{ __schema { " + " ".join(f"t{n}: types {{ name }}" for n in range(count)) + " } }"


def total_first(total: int) -> str:
    pages, rest = divmod(total, 100)
    fields = [f"p{n}: sessions(first: 100) {{ totalCount }}" for n in range(pages)]
    if rest:
        fields.append(f"r: sessions(first: {rest}) {{ totalCount }}")
    return "{ " + " ".join(fields) + " }"


def first_in_fragments(total: int) -> str:
    """``total_first(total)`` with its fields in a fragment, spread through another one."""
    pages = "fragment Pages on Query " + total_first(total)
    return "{ ...Outer } fragment Outer on Query { ...Pages } " + pages


def introspections(count: int) -> str:
    fields = [f"s{n}: __schema {{ queryType {{ name }} }}" for n in range(count)]
    return "{ " + " ".join(fields) + " }"


def tokens(count: int) -> str:
    """A valid document of exactly ``count`` tokens: `{ sessions(types: [...]) { totalCount } }`."""
    return "{ sessions(types: [" + " P2P" * (count - 12) + " ]) { totalCount } }"


FOUR_DEEP = "{ sessions { edges { node { key } } } }"
FIVE_DEEP = "{ sessions { edges { node { lastMessage { from } } } } }"

AT_AND_PAST = {
    "aliases": (aliases(30), aliases(31), "TOO_MANY_ALIASES"),
    "aliases-in-introspection": (
        introspection_aliases(30),
        introspection_aliases(31),
        "TOO_MANY_ALIASES",
    ),
    "tokens": (tokens(2000), tokens(2001), "QUERY_TOO_LARGE"),
    "total-first": (total_first(500), total_first(501), "QUERY_TOO_COSTLY"),
    "total-first-in-fragments": (
        first_in_fragments(500),
        first_in_fragments(501),
        "QUERY_TOO_COSTLY",
    ),
    "introspection-cost": (introspections(5), introspections(6), "QUERY_TOO_COSTLY"),
}


@pytest.mark.parametrize(("at", "past", "code"), AT_AND_PAST.values(), ids=AT_AND_PAST.keys())
async def test_a_limit_accepts_its_value_and_refuses_one_past_it(
    alice: GraphQLClient, at: str, past: str, code: str
) -> None:
    assert await outcome(alice, at) == "ok"
    assert await outcome(alice, past) == code


async def test_the_depth_limit_accepts_its_value_and_refuses_one_past_it(
    small_limits: GraphQLClient,
) -> None:
    assert await outcome(small_limits, FOUR_DEEP) == "ok"
    assert await outcome(small_limits, FIVE_DEEP) == "QUERY_TOO_DEEP"


async def test_depth_counts_through_fragments(small_limits: GraphQLClient) -> None:
    query = (
        "{ sessions { ...Edges } } fragment Edges on SessionConnection { edges { ...Node } } "
        "fragment Node on SessionEdge { node { lastMessage { from } } }"
    )
    assert await outcome(small_limits, query) == "QUERY_TOO_DEEP"


async def test_graphiqls_introspection_query_is_accepted_at_the_default_limits(
    alice: GraphQLClient, anonymous: GraphQLClient
) -> None:
    query = get_introspection_query(
        descriptions=True, specified_by_url=True, directive_is_repeatable=True,
        schema_description=True, input_value_deprecation=True,
    )  # fmt: skip
    for client in (alice, anonymous):
        schema = await client.ok(query)
        assert schema["__schema"]["queryType"]["name"] == "Query"
