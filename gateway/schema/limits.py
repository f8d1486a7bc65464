"""Cost limits checked before execution, and per-account rate limits.

``QueryCostRule`` walks each operation once (through fragments) and refuses documents that nest
too deep, alias too many fields or ask for too many sessions in total (`first` summed over every
paged field, 100 where not given). ``RateLimits`` spends one token of the viewer's bucket per
operation; an empty bucket answers RATE_LIMITED with `retryAfter` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from graphql import (
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
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from gateway.domain.sessions import MAX_PAGE_SIZE

_PAGED_FIELDS = {"sessions", "sessionChanges"}


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_total_first: int = 500


def query_cost_rule(limits: QueryLimits) -> type[ValidationRule]:
    class QueryCostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> None:
            cost = _Cost(self.context)
            cost.walk(node.selection_set, depth=1)
            if cost.depth > limits.max_depth:
                self._refuse(f"the query nests {cost.depth} levels; at most {limits.max_depth}",
                             "QUERY_TOO_DEEP", node)  # fmt: skip
            if cost.aliases > limits.max_aliases:
                self._refuse(f"the query has {cost.aliases} aliases; at most {limits.max_aliases}",
                             "TOO_MANY_ALIASES", node)  # fmt: skip
            if cost.first > limits.max_total_first:
                self._refuse(
                    f"the query asks for up to {cost.first} sessions in all (`first` summed, "
                    f"{MAX_PAGE_SIZE} where not given); at most {limits.max_total_first}",
                    "QUERY_TOO_COSTLY",
                    node,
                )

        def _refuse(self, message: str, code: str, node: OperationDefinitionNode) -> None:
            self.report_error(GraphQLError(message, node, extensions={"code": code}))

    return QueryCostRule


class _Cost:
    def __init__(self, context: ValidationContext) -> None:
        self._context = context
        self._fragments_seen: set[str] = set()
        self.depth = 0
        self.aliases = 0
        self.first = 0

    def walk(self, selections: SelectionSetNode | None, depth: int) -> None:
        if selections is None:
            return
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    self.aliases += 1
                if selection.name.value.startswith("__"):
                    continue  # introspection (GraphiQL's own query nests deep) is not data
                self.depth = max(self.depth, depth)
                if selection.name.value in _PAGED_FIELDS:
                    self.first += _first_of(selection)
                self.walk(selection.selection_set, depth + 1)
            elif isinstance(selection, InlineFragmentNode):
                self.walk(selection.selection_set, depth)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment: FragmentDefinitionNode | None = self._context.get_fragment(name)
                if fragment is not None and name not in self._fragments_seen:
                    self._fragments_seen.add(name)  # cycles are another rule's error
                    self.walk(fragment.selection_set, depth)
                    self._fragments_seen.discard(name)


def _first_of(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 0)
            return MAX_PAGE_SIZE  # a variable: count the most it may be
    return MAX_PAGE_SIZE


# Rate limits ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_minute: int  # 0: no limit
    burst: int


class RateLimiter:
    """Token buckets per (account, kind), in this process; least recently used ones are dropped."""

    def __init__(
        self,
        reads: RateLimit,
        writes: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_accounts: int = 100_000,
    ) -> None:
        self._limits = {"read": reads, "write": writes}
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


class RateLimits(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        limiter: RateLimiter | None = getattr(context, "rate_limiter", None)
        viewer: str | None = getattr(context, "viewer_id", None)
        if limiter is not None and viewer is not None:
            kind = (
                "write"
                if self.execution_context.operation_type is OperationType.MUTATION
                else "read"
            )
            wait = limiter.take(viewer, kind)
            if wait is not None:
                retry_after = max(1, round(wait + 0.5))
                error = GraphQLError(
                    f"too many {kind}s for this account: retry in {retry_after} s",
                    extensions={"code": "RATE_LIMITED", "retryAfter": retry_after},
                )
                self.execution_context.result = ExecutionResult(data=None, errors=[error])
        yield
