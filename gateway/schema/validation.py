"""Validation: graphql-core's rules and ours over each parsed document, cached by document."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from strawberry.extensions import SchemaExtension

from gateway._compat.strawberry import VALIDATION_RULES as _STRAWBERRY_RULES
from gateway.schema.merging import MergeCostRule


class Validation(SchemaExtension):
    """Strawberry's ``ValidationCache``, plus two things it cannot do: with ``hide_suggestions``
    errors name no field or enum value the client did not write ("Did you mean ...?" would
    reveal the schema when introspection is off), a literal graphql-core cannot coerce (an
    Int of 5,000 digits) is the client's validation error, not an unexpected one, and a
    document whose repeated fields would take graphql-core too long to check is refused before
    it checks them (schema/merging.py). At most ``max_errors`` errors are reported (and made:
    each costs the suggestions it looks for)."""

    def __init__(self, *, hide_suggestions: bool, max_errors: int) -> None:
        self._hide_suggestions = hide_suggestions
        self._max_errors = max_errors

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        context.pre_execution_errors = _validate(
            context.schema._schema,
            context.graphql_document,
            tuple(context.validation_rules),
            self._hide_suggestions,
            self._max_errors,
        )
        yield


@lru_cache(maxsize=256)
def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
    max_errors: int,
) -> list[GraphQLError]:
    # A separate pass first: graphql-core runs the rules of one pass side by side, so a refusal
    # in the same pass would not spare the costly rule its work.
    errors = validate(schema, document, (MergeCostRule,))
    if not errors:
        errors = validate(
            schema,
            document,
            (*rules, *_STRAWBERRY_RULES),
            max_errors=max_errors,
            hide_suggestions=hide_suggestions,
        )
    return [_without_cause(error) for error in errors]


def _without_cause(error: GraphQLError) -> GraphQLError:
    if error.original_error is None:
        return error
    return GraphQLError(error.message, error.nodes, error.source, error.positions,
                        extensions=error.extensions)  # fmt: skip
