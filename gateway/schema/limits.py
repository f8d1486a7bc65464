"""Cost limits checked before execution, and rate limits.

``QueryCostRule`` refuses documents that nest too deep, alias too many fields or ask for too many
sessions in total (`first` summed over every paged field, 100 where not given; each `__schema` or
`__type` counts as a full page). The cost is that of the document with its fragments expanded,
found without expanding them: each fragment is summed up once (``DocumentCost``), so the work is
linear in the document's size however its fragments nest. (Strawberry's ``QueryDepthLimiter``
and ``MaxAliasesLimiter`` walk every expansion: 2^n work for n fragments that each spread the
next one twice.) Introspection counts toward aliases and cost, not depth: GraphiQL's own query
nests deeper than any data query.

``RateLimiter`` keeps the token buckets: each operation spends one of its viewer's
(``rate_limit_refusal``, once per operation, whichever path runs it: ``GatewaySchema``), as
soon as it is parsed (whether it then validates or not); an empty bucket answers RATE_LIMITED with
`retryAfter` seconds. Requests without a valid token spend from their client address's bucket
instead, at the HTTP edge (web/budget.py), before any parsing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from graphql import (
    SKIP,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.types.graphql import OperationType

from gateway.domain.sessions import MAX_PAGE_SIZE

_PAGED_FIELDS = {"sessions", "sessionChanges"}
_INTROSPECTION_ROOTS = {"__schema", "__type"}  # each answers about as much as a full page
_HUGE = 2**31


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_total_first: int = 500
    max_document_bytes: int = 32_768  # UTF-8 bytes of the document, before it is parsed
    max_errors: int = 20  # validation errors reported (and made) per document


def utf8_size_past(text: str, limit: int) -> int | None:
    """The UTF-8 size of ``text`` when it is over ``limit`` bytes, else None (without encoding
    what cannot be over: UTF-8 has at most 4 bytes a character)."""
    if len(text) * 4 <= limit:
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    return size if size > limit else None


def document_refusal(query: object, limits: QueryLimits) -> GraphQLError | None:
    """QUERY_TOO_LARGE for a document over ``max_document_bytes``, before anything reads it:
    whitespace and comments are no tokens, and every error's location, every suggestion and
    the lexer itself cost more with every byte."""
    if not isinstance(query, str):
        return None
    size = utf8_size_past(query, limits.max_document_bytes)
    if size is None:
        return None
    return GraphQLError(
        f"the document is {size} bytes; at most {limits.max_document_bytes}",
        extensions={"code": "QUERY_TOO_LARGE"},
    )


def query_cost_rule(limits: QueryLimits) -> type[ValidationRule]:
    class QueryCostRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._costs = DocumentCost(context.document)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> object:
            cost = self._costs.of(node)
            if cost.depth > limits.max_depth:
                self._refuse(f"the query nests {cost.depth} levels; at most {limits.max_depth}",
                             "QUERY_TOO_DEEP", node)  # fmt: skip
            if cost.aliases > limits.max_aliases:
                self._refuse(f"the query has {cost.aliases} aliases; at most {limits.max_aliases}",
                             "TOO_MANY_ALIASES", node)  # fmt: skip
            if cost.first > limits.max_total_first:
                self._refuse(
                    f"the query asks for up to {cost.first} sessions in all (`first` summed, "
                    f"{MAX_PAGE_SIZE} where not given, {MAX_PAGE_SIZE} for each introspection); "
                    f"at most {limits.max_total_first}",
                    "QUERY_TOO_COSTLY",
                    node,
                )
            return SKIP  # the cost is known: nothing below the operation needs this rule

        def _refuse(self, message: str, code: str, node: OperationDefinitionNode) -> None:
            self.report_error(GraphQLError(message, node, extensions={"code": code}))

    return QueryCostRule


@dataclass(frozen=True, slots=True)
class Cost:
    depth: int = 0  # the deepest data field; 1 is the selection set's own level
    aliases: int = 0
    first: int = 0


@dataclass(slots=True)
class _Spread:
    name: str
    level: int
    in_introspection: bool


@dataclass(slots=True)
class _Local:
    """A selection set's own cost, and the fragments it spreads (not yet added in)."""

    depth: int = 0
    aliases: int = 0
    first: int = 0
    spreads: list[_Spread] = field(default_factory=list)


class DocumentCost:
    """The cost of each operation of a document as if its fragments were expanded in place.

    Each fragment is summed up once and its sum reused wherever it is spread, so the work is
    linear in the document: ``visited`` counts the selections looked at, each at most once."""

    def __init__(self, document: DocumentNode) -> None:
        self._fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self._sums: dict[str, Cost] = {}
        self.visited = 0

    def of(self, operation: OperationDefinitionNode) -> Cost:
        local = self._walk(operation.selection_set)
        for spread in local.spreads:
            self._sum_fragment(spread.name)
        return self._add_spreads(local)

    def _sum_fragment(self, root: str) -> None:
        """Sums ``root`` and the fragments it needs, children first, without recursion (a chain
        of fragments may be hundreds long). A cycle adds nothing: NoFragmentCyclesRule refuses
        the document anyway."""
        locals_: dict[str, _Local] = {}
        pending, on_path = [root], set[str]()
        while pending:
            name = pending[-1]
            fragment = self._fragments.get(name)
            if name in self._sums or fragment is None:
                pending.pop()
                continue
            if name not in locals_:
                locals_[name] = self._walk(fragment.selection_set)
            missing = [
                spread.name
                for spread in locals_[name].spreads
                if spread.name not in self._sums and spread.name not in on_path
            ]
            if missing and name not in on_path:
                on_path.add(name)
                pending.extend(missing)
                continue
            self._sums[name] = self._add_spreads(locals_.pop(name))
            on_path.discard(name)
            pending.pop()

    def _add_spreads(self, local: _Local) -> Cost:
        depth, aliases, first = local.depth, local.aliases, local.first
        for spread in local.spreads:
            fragment = self._sums.get(spread.name)
            if fragment is None:  # unknown, or part of a cycle: other rules' errors
                continue
            aliases += fragment.aliases
            first += fragment.first
            if fragment.depth and not spread.in_introspection:
                depth = max(depth, spread.level - 1 + fragment.depth)
        return Cost(depth, aliases, first)

    def _walk(self, selection_set: SelectionSetNode) -> _Local:
        local = _Local()
        stack = [(selection_set, 1, False)]
        while stack:
            selections, level, in_introspection = stack.pop()
            for selection in selections.selections:
                self.visited += 1
                if isinstance(selection, FieldNode):
                    name = selection.name.value
                    if selection.alias is not None:
                        local.aliases += 1
                    if name in _INTROSPECTION_ROOTS:
                        local.first += MAX_PAGE_SIZE
                    inner = in_introspection or name.startswith("__")
                    if not inner:
                        local.depth = max(local.depth, level)
                        if name in _PAGED_FIELDS:
                            local.first += _first_of(selection)
                    if selection.selection_set is not None:
                        stack.append((selection.selection_set, level + 1, inner))
                elif isinstance(selection, InlineFragmentNode):
                    stack.append((selection.selection_set, level, in_introspection))
                elif isinstance(selection, FragmentSpreadNode):
                    local.spreads.append(_Spread(selection.name.value, level, in_introspection))
        return local


def _first_of(node: FieldNode) -> int:
    for argument in node.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, IntValueNode):
                # No Int has more than 10 digits; int() of thousands would raise, not refuse.
                return max(int(value.value), 0) if len(value.value) <= 11 else _HUGE
            return MAX_PAGE_SIZE  # a variable: count the most it may be
    return MAX_PAGE_SIZE


# Rate limits ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_minute: int  # 0: no limit
    burst: int


class RateLimiter:
    """Token buckets per (account or address, kind), in this process; least recently used ones
    are dropped."""

    def __init__(
        self,
        reads: RateLimit,
        writes: RateLimit,
        anonymous: RateLimit = RateLimit(0, 0),
        *,
        clock: Callable[[], float] = time.monotonic,
        max_accounts: int = 100_000,
    ) -> None:
        # "anonymous" buckets are keyed by client address (web/budget.py), the others by account.
        self._limits = {"read": reads, "write": writes, "anonymous": anonymous}
        self._clock = clock
        self._max = max_accounts
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def take(self, account: str, kind: str) -> float | None:
        """Spend a token; None when allowed, else the seconds until one is available."""
        limit = self._limits[kind]
        if limit.per_minute <= 0:
            return None
        now = self._clock()
        rate = limit.per_minute / 60
        tokens, stamp = self._buckets.pop((account, kind), (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - stamp) * rate)
        if tokens >= 1:
            self._buckets[(account, kind)] = (tokens - 1, now)
            self._evict()
            return None
        self._buckets[(account, kind)] = (tokens, now)
        return (1 - tokens) / rate

    def _evict(self) -> None:
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)


def rate_limit_refusal(
    limiter: RateLimiter | None, viewer: str, operation_type: OperationType | None
) -> GraphQLError | None:
    """Spends ``viewer``'s token for one operation, a write for a mutation, else a read (a
    query, a subscription, a document that does not say): None when allowed, else the error
    that is the operation's result (RATE_LIMITED, with when to retry)."""
    if limiter is None:
        return None
    kind = "write" if operation_type is OperationType.MUTATION else "read"
    wait = limiter.take(viewer, kind)
    if wait is None:
        return None
    retry_after = max(1, round(wait + 0.5))
    return GraphQLError(
        f"too many {kind}s for this account: retry in {retry_after} s",
        extensions={"code": "RATE_LIMITED", "retryAfter": retry_after},
    )
