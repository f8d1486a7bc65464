"""What every ``gateway`` command shares: its settings from the environment and its store, opened
with a one-line failure (cli.py, dead_letter_commands.py)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar
from urllib.parse import urlparse

import click
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gateway.errors import GatewayError
from gateway.settings import Settings
from gateway.store import SessionStore, open_store

DB_HELP = "SQLite file, sqlite:/// URL or postgresql:// URL [GATEWAY_DATABASE_URL]."
T = TypeVar("T")

logger = logging.getLogger("gateway")


def settings_from_environment(**overrides: object) -> Settings:
    """The settings from GATEWAY_* with ``overrides`` (None: unset); bad ones are one line."""
    try:
        settings = Settings()
    except ValidationError as e:
        problems = "; ".join(_problem(error) for error in e.errors())
        raise click.ClickException(f"bad configuration in the environment: {problems}") from None
    given = {name: value for name, value in overrides.items() if value is not None}
    return settings.model_copy(update=given) if given else settings


def _problem(error: ErrorDetails) -> str:
    name = "_".join(map(str, error["loc"]))
    said = f"GATEWAY_{name.upper()}: {error['msg']}"
    if any(word in name for word in ("secret", "key", "url")):
        return said  # never echo a secret, or a URL's password
    return f"{said} (got {error['input']!r})"


@asynccontextmanager
async def opened(store: SessionStore, settings: Settings) -> AsyncIterator[SessionStore]:
    """The store, open; failing to open it is one line naming the database (the traceback is
    logged at debug level)."""
    async with AsyncExitStack() as stack:
        try:
            if not settings.uses_postgres():
                # aiosqlite, failing to connect, races its worker thread against the closing
                # loop (a stray "Event loop is closed" traceback): try the file synchronously.
                sqlite3.connect(settings.sqlite_path()).close()
            await stack.enter_async_context(store)
        except Exception as e:
            logger.debug("opening the store failed", exc_info=True)
            reason = e.message if isinstance(e, GatewayError) else str(e) or type(e).__name__
            raise click.ClickException(
                f"cannot open {database_name(settings)}: {' '.join(reason.split())}"
            ) from None
        try:
            yield store
        finally:
            await stack.aclose()
            logger.info("closed the store")


def database_name(settings: Settings) -> str:
    """The database ``settings`` names, for messages: never its password."""
    if not settings.uses_postgres():
        return f"the SQLite database {settings.sqlite_path()}"
    url = urlparse(settings.database_url)
    server = url.netloc.rpartition("@")[2] or "localhost"
    if not server.rpartition("]")[2].count(":"):
        server += ":5432"
    return f"the PostgreSQL database {url.path.lstrip('/') or '(default)'} at {server}"


async def with_store(settings: Settings, work: Callable[[SessionStore], Awaitable[T]]) -> T:
    """``work`` on the store ``settings`` name, opened for it and closed after."""
    async with opened(open_store(settings), settings) as store:
        return await work(store)
