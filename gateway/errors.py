"""Expected failures, each with a stable ``code``.

    GatewayError                  code
    ├── BadUserInput              BAD_USER_INPUT
    ├── Unauthenticated           UNAUTHENTICATED
    └── ConfigurationError        CONFIGURATION_ERROR  (start-up only)

The GraphQL layer passes these through to clients as ``extensions.code``; any other exception is
masked as "Unexpected error." and logged.
"""

from __future__ import annotations


class GatewayError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, str]:
        # graphql-core copies `original_error.extensions` into the error it reports.
        return {"code": self.code}


class BadUserInput(GatewayError):
    code = "BAD_USER_INPUT"


class Unauthenticated(GatewayError):
    code = "UNAUTHENTICATED"


class ConfigurationError(GatewayError):
    code = "CONFIGURATION_ERROR"
