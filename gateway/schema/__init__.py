"""The GraphQL schema, assembled in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gateway.schema.errors import ErrorCodes, is_expected, root_cause
from gateway.schema.limits import QueryLimits, RateLimits, query_cost_rule
from gateway.schema.mutations import Mutation
from gateway.schema.queries import Query
from gateway.schema.scalars import SCALARS
from gateway.schema.subscriptions import Subscription
from gateway.schema.types import Session

logger = logging.getLogger("gateway.graphql")


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors are answers, not incidents: only the unexpected ones are logged.
        for error in errors:
            if not is_expected(error):
                logger.error("unexpected error at %s", error.path, exc_info=root_cause(error))


def build_schema(
    limits: QueryLimits | None = None, *, introspection: bool = True
) -> strawberry.Schema:
    limits = limits or QueryLimits()
    rules: list[type[ASTValidationRule]] = [query_cost_rule(limits)]
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),  # before the parser cache
        lambda: ParserCache(maxsize=256),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=256),
        RateLimits,
        ErrorCodes,
    ]
    if not introspection:
        extensions.insert(2, DisableIntrospection)
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Session],
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=extensions,
    )
