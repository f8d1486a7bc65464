"""What clients see of errors: every error gets an ``extensions.code``; unexpected ones are
masked."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult

from gateway.errors import GatewayError

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL = "INTERNAL_SERVER_ERROR"


def root_cause(error: GraphQLError) -> BaseException | None:
    """The exception behind an error, through graphql-core's wrapping of coercion errors."""
    cause: BaseException | None = error.original_error
    while isinstance(cause, GraphQLError):
        cause = cause.original_error
    return cause


def is_expected(error: GraphQLError) -> bool:
    """Syntax and validation errors, and our own typed errors, are the client's to see."""
    cause = root_cause(error)
    return cause is None or isinstance(cause, GatewayError)


def client_error(error: GraphQLError) -> GraphQLError:
    """The error as a client may see it; applying it twice changes nothing."""
    cause = root_cause(error)
    if error.extensions and "code" in error.extensions and not isinstance(cause, Exception):
        return error
    if isinstance(cause, GatewayError):
        code, message = cause.code, error.message
    elif cause is not None:
        code, message = INTERNAL, "Unexpected error."
    elif "introspection has been disabled" in error.message:
        code, message = "INTROSPECTION_DISABLED", error.message
    elif "Document contains more than" in error.message:  # graphql-core's token limit
        code, message = "QUERY_TOO_LARGE", error.message
    elif error.message.startswith("Syntax Error"):
        code, message = PARSE_FAILED, error.message
    else:
        code, message = VALIDATION_FAILED, error.message
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), "code": code},
    )


class ErrorCodes(SchemaExtension):
    """Masks unexpected errors and gives every error a code, after they have been logged."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, GraphQLExecutionResult | ExecutionResult) and result.errors:
            result.errors = [client_error(error) for error in result.errors]
        if self.execution_context.pre_execution_errors:
            self.execution_context.pre_execution_errors = [
                client_error(error) for error in self.execution_context.pre_execution_errors
            ]

    def on_stream_result(self, result: object) -> Iterator[None]:
        # Streams (WebSocket operations) send each result before the operation ends.
        if isinstance(result, ExecutionResult) and result.errors:
            result.errors = [client_error(error) for error in result.errors]
        yield
