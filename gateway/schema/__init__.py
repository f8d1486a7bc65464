"""The GraphQL schema, assembled in one place."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gateway.schema.errors import ErrorCodes, is_expected, root_cause
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


def build_schema() -> strawberry.Schema:
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Session],
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            ErrorCodes,
        ],
    )
