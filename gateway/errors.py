"""Expected failures, each with a stable ``code``.

    GatewayError                  code
    ├── BadUserInput              BAD_USER_INPUT
    ├── Unauthenticated           UNAUTHENTICATED
    ├── NotFound                  NOT_FOUND
    ├── LimitExceeded             TOO_MANY_GROUPS, TOO_MANY_GROUPS_FOR_SESSION, GROUP_FULL
    ├── SyncTokenExpired          SYNC_TOKEN_EXPIRED   (reload the whole list)
    ├── StoreUnavailable          STORE_UNAVAILABLE    (the database is away: retry; webhook: 503)
    ├── BadEvent                  BAD_EVENT, BAD_JSON, NOT_AN_OBJECT, MISSING_EVENT_TYPE,
    │                             MISSING_FIELD, NUL_CHARACTER   (message CC: a dead letter,
    │                             answered 200; team registry: 400)
    ├── Refused                   MISSING_SIGNATURE, BAD_MD5, BAD_CHECKSUM,
    │                             STALE_CURTIME, BAD_APP_KEY                (webhook: 403)
    └── ConfigurationError        CONFIGURATION_ERROR  (start-up only)

The GraphQL layer passes these through to clients as ``extensions.code``, the webhooks as
``{"error": {"code", "message"}}`` (a message-CC body it cannot use is kept as a dead letter
under its code instead); any other exception is masked and logged.
"""

from __future__ import annotations


class GatewayError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def extensions(self) -> dict[str, str]:
        # graphql-core copies `original_error.extensions` into the error it reports.
        return {"code": self.code}


class BadUserInput(GatewayError):
    code = "BAD_USER_INPUT"


class Unauthenticated(GatewayError):
    code = "UNAUTHENTICATED"


class NotFound(GatewayError):
    code = "NOT_FOUND"


class LimitExceeded(GatewayError):
    """A write that would pass one of the configured limits (conversation groups)."""

    code = "LIMIT_EXCEEDED"


class SyncTokenExpired(GatewayError):
    """Tombstones newer than the token were purged: the client must reload its whole list."""

    code = "SYNC_TOKEN_EXPIRED"


class StoreUnavailable(GatewayError):
    """The database could not be reached, or dropped the connection (a restart, a failover, a
    cut network), or (SQLite) another process held the file's write lock past the busy
    timeout: nothing was done, or a write's COMMIT went unanswered. Try again."""

    code = "STORE_UNAVAILABLE"


class BadEvent(GatewayError):
    """A webhook body that is not a NIM event this service can apply."""

    code = "BAD_EVENT"


class Refused(GatewayError):
    """A webhook request whose signature or timing does not check out."""

    code = "BAD_CHECKSUM"


class ConfigurationError(GatewayError):
    code = "CONFIGURATION_ERROR"
