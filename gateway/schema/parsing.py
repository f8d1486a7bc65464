"""Parsing, cached."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress

from graphql import GraphQLError
from strawberry.extensions import ParserCache as _StrawberryParserCache


class ParserCache(_StrawberryParserCache):
    """Strawberry's parser cache, except that a document that does not parse (a syntax error,
    or more tokens than the limit) is left to Strawberry's own parse, which makes the error the
    operation's result. Raised from this hook, the error escapes a subscription's stream: the
    client got a bare ``complete`` and the server logged "Exception in worker task"."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
