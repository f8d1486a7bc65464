"""Parsing, cached, into sources that locate errors in O(log n); what operation a document holds."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from functools import cached_property, lru_cache
from typing import NamedTuple

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    Source,
    SourceLocation,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

_NEWLINE = re.compile(r"\r\n|[\n\r]")


class IndexedSource(Source):
    """A document's text that knows where its lines start. graphql-core's own ``Source`` finds
    an error's line by scanning the text up to it, for every error: a document of 32,000
    newlines and 130 unknown fields (132 tokens) took seconds to validate. Here the lines are
    indexed once, when the first error is located, and each location is a binary search."""

    @cached_property
    def _line_breaks(self) -> tuple[list[int], list[int]]:
        """Where each line break starts, and where the line after it starts."""
        matches = list(_NEWLINE.finditer(self.body))
        return [match.start() for match in matches], [match.end() for match in matches]

    def get_location(self, position: int) -> SourceLocation:
        breaks, line_starts = self._line_breaks
        before = bisect_left(breaks, position)  # the breaks that start before the position
        line_start = line_starts[before - 1] if before else 0
        return SourceLocation(before + 1, position + 1 - line_start)


@lru_cache(maxsize=256)
def parse_document(query: str, max_tokens: int | None) -> DocumentNode | None:
    """The document, or None when it does not parse (Strawberry's own parse makes the error
    the operation's result: ``ParserCache``)."""
    try:
        return parse(IndexedSource(query), max_tokens=max_tokens)
    except GraphQLError:
        return None


class Operation(NamedTuple):
    """What a request's operation is, as its document says before validation."""

    name: object  # operationName as sent (anything JSON holds), else the first operation's name
    type: OperationType | None  # None: the document unread, unparsed, or without the operation


_TYPES = {kind.value: kind for kind in OperationType}  # by value, without Enum's slow lookup


def read_operation(query: str | None, operation_name: object, max_tokens: int | None) -> Operation:
    """The operation of ``query`` that ``operation_name`` names (without a name, the first), as
    Strawberry finds it, parsed through the cache ``ParserCache`` reads (None: left unread)."""
    document = parse_document(query, max_tokens) if query else None
    for definition in document.definitions if document is not None else ():
        if not isinstance(definition, OperationDefinitionNode):
            continue
        name = definition.name.value if definition.name is not None else None
        if operation_name is None or name == operation_name:
            return Operation(name, _TYPES[definition.operation.value])
    return Operation(operation_name, None)


class DocumentRules(SchemaExtension):
    """What a document is held to: at most ``max_tokens`` tokens, and ``rules`` validated with
    graphql-core's own (Strawberry's MaxTokensLimiter and AddValidationRules in one). Set as
    parsing starts, in a hook that ends there: theirs hook the whole operation, which for a
    subscription is held open, with its generator, for as long as the subscription lives."""

    def __init__(self, max_tokens: int, rules: Iterable[type[ASTValidationRule]]) -> None:
        self.max_tokens = max_tokens
        self.rules = tuple(rules)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        context.validation_rules = context.validation_rules + self.rules
        yield


class ParserCache(SchemaExtension):
    """Strawberry's parser cache, parsing into ``IndexedSource``s, except that a document that
    does not parse (a syntax error, or more tokens than the limit) is left to Strawberry's own
    parse, which makes the error the operation's result. Raised from this hook, the error
    escapes a subscription's stream: the client got a bare ``complete`` and the server logged
    "Exception in worker task". (That error has one location: one scan of the text.)"""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        max_tokens = context.parse_options.get("max_tokens")
        if context.query is not None:
            context.graphql_document = parse_document(context.query, max_tokens)
        yield
