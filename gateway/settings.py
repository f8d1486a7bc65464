"""All configuration, from the environment (``GATEWAY_*``), in one settings object."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.domain.groups import GroupLimits
from gateway.errors import ConfigurationError

# What the gateway's own routes answer (web/app.py, web/webhook.py): no webhook path.
_OWN_PATHS = frozenset({"/", "/graphql", "/healthz", "/readyz", "/metrics"})
_OWN_PREFIXES = ("/graphiql/", "/nim/teams/")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    database_url: str = "./gateway.db"
    host: str = "127.0.0.1"
    port: int = 8000

    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # An identity provider's keys (OpenID Connect's jwks_uri), instead of a secret or a key file.
    jwt_jwks_url: str | None = None
    jwt_jwks_timeout_s: PositiveFloat = 5  # each fetch
    jwt_jwks_min_refresh_s: NonNegativeFloat = 60  # fetched again at most this often
    # Where the account id is: a claim name, or a dot-separated path into the claims.
    jwt_account_claim: str = Field("sub", min_length=1)
    jwt_clock_skew_s: NonNegativeInt = 0  # leeway on exp, nbf and iat
    cursor_secret: SecretStr | None = None

    nim_app_secret: SecretStr | None = None
    nim_app_key: str | None = None
    nim_cc_path: str = "/nim/cc"
    nim_max_clock_skew_s: int = 300
    # An event's times (msgTimestamp, deleteTime, sendTime) later than the clock plus this are
    # taken as that (docs/api.md, "The webhooks' input rules").
    nim_max_event_ahead_s: NonNegativeInt = 300
    webhook_max_body_bytes: int = 1_048_576
    dead_letter_limit: PositiveInt = 10_000  # signed CC bodies kept unapplied; the oldest go first

    allowed_origins: str = ""  # browsers' origins, for CORS and WebSockets alike
    ws_max_subscriptions_per_connection: int = 10
    ws_max_connections_per_account: int = 20
    ws_event_queue_size: int = 1000
    ws_max_message_bytes: PositiveInt = 65_536  # each message a client sends, decompressed
    tombstone_retention_days: float = 30

    max_query_depth: int = 12
    max_query_aliases: int = 30
    max_query_tokens: int = 2000
    max_total_first: int = 500
    max_document_bytes: PositiveInt = 32_768  # a GraphQL document's UTF-8 bytes, HTTP and WebSocket
    max_query_errors: PositiveInt = 20  # validation errors reported per document
    max_body_bytes: int = 65_536
    max_variables_bytes: int = 16_384
    introspection: bool = True
    rate_limit_reads_per_minute: int = 600
    rate_limit_reads_burst: int = 120
    rate_limit_writes_per_minute: int = 120
    rate_limit_writes_burst: int = 30
    # Hardening II (issue 13): what one client without a token, or one response, may cost.
    rate_limit_anonymous_per_minute: int = 60  # per client address; 0: no limit
    rate_limit_anonymous_burst: int = 20
    trusted_proxies: str = "127.0.0.1"  # whose X-Forwarded-For to believe: IPs, CIDRs or "*"
    max_body_depth: int = Field(32, ge=1, le=250)  # JSON nesting of a GraphQL request body
    max_response_bytes: int = 8_388_608

    # Conversation groups (NIM's depend on the plan; a session is in at most 5 in NIM).
    groups_per_owner: PositiveInt = 100
    groups_per_session: PositiveInt = 5
    sessions_per_group: PositiveInt = 1000
    shutdown_timeout_s: float = 10

    # Each HTTP connection, for when clients reach the gateway directly (docs/deployment.md
    # says what a proxy in front must bound itself).
    http_max_header_bytes: PositiveInt = 32_768  # request line and headers: 431 past it
    http_header_timeout_s: PositiveFloat = 10  # for the whole head (and for a silent connection)
    http_body_timeout_s: PositiveFloat = 30  # for the whole body, from the end of its head
    http_keep_alive_timeout_s: PositiveInt = 5  # idle time between requests
    http_max_connections: NonNegativeInt = 0  # 503 past it; 0: the open-file limit is the cap

    graphiql_dir: str | None = None  # the page's assets; unset: a per-user data directory
    graphiql_cdn: bool = True  # without local assets, load them from the public CDN

    # Messages once read, kept in memory (store/_messages.py): never changed, so never stale.
    message_cache_mb: NonNegativeInt = 32

    pg_pool_size: int = 10
    pg_statement_timeout_ms: int = 5000
    pg_connect_retries: int = 10
    pg_connect_timeout_s: PositiveFloat = 10  # each connection attempt, handshake included

    sqlite_readers: int = 4
    sqlite_busy_timeout_ms: int = 5000
    log_level: str = "info"
    log_format: Literal["auto", "json", "text"] = "auto"  # auto: text on a terminal, else JSON

    @field_validator(
        "jwt_secret", "jwt_public_key", "jwt_algorithms", "jwt_issuer", "jwt_audience",
        "jwt_jwks_url", "cursor_secret", "nim_app_secret", "nim_app_key", "graphiql_dir",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `GATEWAY_JWT_SECRET=` in a shell or compose file means "not set", never "the empty key".
        if (
            isinstance(value, str | SecretStr)
            and not str(value.get_secret_value() if isinstance(value, SecretStr) else value).strip()
        ):
            return None
        return value

    @field_validator("nim_cc_path")
    @classmethod
    def _cc_path_is_free(cls, value: str) -> str:
        # The webhook's route comes after the gateway's own, which would answer NIM instead.
        if not value.startswith("/") or "{" in value or "}" in value:
            raise ValueError("the webhook's path is a literal path starting with '/'")
        if value in _OWN_PATHS or value.startswith(_OWN_PREFIXES):
            raise ValueError("that path is one of the gateway's own (web/app.py): choose another")
        return value

    def group_limits(self) -> GroupLimits:
        return GroupLimits(self.groups_per_owner, self.groups_per_session, self.sessions_per_group)

    def uses_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    def sqlite_path(self) -> str:
        """The SQLite file that ``database_url`` names: a path or a ``sqlite:///`` URL."""
        url = self.database_url
        if "://" not in url:
            return url
        parsed = urlparse(url)
        if parsed.scheme != "sqlite":
            raise ConfigurationError(
                f"GATEWAY_DATABASE_URL {url!r}: use a SQLite path, a sqlite:/// URL or a "
                "postgresql:// URL"
            )
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them.
        return unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)

    def origins(self) -> tuple[str, ...]:
        return tuple(o.strip() for o in self.allowed_origins.split(",") if o.strip())

    def proxies(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.trusted_proxies.split(",") if p.strip())

    def public_key(self) -> str | None:
        """The PEM text of ``jwt_public_key``, which may be the PEM itself or a file path."""
        value = self.jwt_public_key
        if value is None or "-----BEGIN" in value:
            return value
        try:
            return Path(value).read_text()
        except OSError as e:
            raise ConfigurationError(f"GATEWAY_JWT_PUBLIC_KEY: cannot read {value}: {e}") from e

    def check_auth(self) -> None:
        if self.jwt_secret is None and self.jwt_public_key is None and self.jwt_jwks_url is None:
            raise ConfigurationError(
                "no token key: set GATEWAY_JWT_SECRET (HS256), GATEWAY_JWT_PUBLIC_KEY "
                "(RS256/ES256) or GATEWAY_JWT_JWKS_URL (an identity provider's keys), or run "
                "with --demo"
            )
        if self.jwt_jwks_url is None:
            return
        if self.jwt_secret is not None or self.jwt_public_key is not None:
            raise ConfigurationError(
                "GATEWAY_JWT_JWKS_URL is set with GATEWAY_JWT_SECRET or GATEWAY_JWT_PUBLIC_KEY: "
                "tokens are verified with one of them, set only one"
            )
        if not self.jwt_jwks_url.startswith(("https://", "http://")):
            raise ConfigurationError("GATEWAY_JWT_JWKS_URL must be an https:// (or http://) URL")
        if self.cursor_secret is None:
            raise ConfigurationError(
                "GATEWAY_JWT_JWKS_URL needs GATEWAY_CURSOR_SECRET: cursors are signed with a key "
                "of the gateway's own (an identity provider's keys are public, and rotate)"
            )

    def cursor_key(self) -> bytes:
        """The key that signs cursors: its own setting, else derived from the token key."""
        if self.cursor_secret is not None:
            material = self.cursor_secret.get_secret_value()
        elif self.jwt_secret is not None:
            material = self.jwt_secret.get_secret_value()
        else:
            material = self.public_key() or ""
        return hmac.new(material.encode(), b"gateway cursors", hashlib.sha256).digest()
