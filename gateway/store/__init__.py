"""Storage: one SQL store (:class:`SqlStore`) over a SQLite or PostgreSQL driver."""

from gateway.settings import Settings
from gateway.store.base import SessionStore
from gateway.store.postgres import PostgresStore
from gateway.store.sql import SqlStore
from gateway.store.sqlite import SqliteStore

__all__ = ["PostgresStore", "SessionStore", "SqlStore", "SqliteStore", "open_store"]


def open_store(settings: Settings) -> SqlStore:
    """The store ``GATEWAY_DATABASE_URL`` names: ``async with open_store(settings) as store``."""
    if settings.uses_postgres():
        return PostgresStore(
            settings.database_url,
            pool_size=settings.pg_pool_size,
            statement_timeout_ms=settings.pg_statement_timeout_ms,
            connect_retries=settings.pg_connect_retries,
            connect_timeout_s=settings.pg_connect_timeout_s,
            message_cache_bytes=settings.message_cache_mb * 1024 * 1024,
        )
    return SqliteStore(
        settings.sqlite_path(),
        readers=settings.sqlite_readers,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        message_cache_bytes=settings.message_cache_mb * 1024 * 1024,
    )
