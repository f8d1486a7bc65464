"""The ``gateway`` command: serve, token, seed, import, sign, schema, dead-letters."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import click
import uvicorn
from pydantic import SecretStr, ValidationError
from pydantic_core import ErrorDetails
from uvicorn.supervisors import Multiprocess

from gateway import dead_letters, graphiql
from gateway.auth import issue_token
from gateway.demo import SeedSummary
from gateway.demo import seed as seed_demo
from gateway.demo_banner import banner
from gateway.demo_keys import demo_keys
from gateway.domain.checksum import sign as sign_body
from gateway.domain.checksum import sign_request
from gateway.domain.dead_letters import DeadLetter, readable, summary
from gateway.errors import ConfigurationError, GatewayError
from gateway.importer import ImportReport, import_lines
from gateway.ingest import Ingestor
from gateway.logs import configure_logging, flush_logs
from gateway.progress import progress
from gateway.schema import build_schema
from gateway.schema.scalars import format_timestamp
from gateway.settings import Settings
from gateway.store import SessionStore, open_store
from gateway.web.app import now_ms, served_app
from gateway.web.protocol import ConnectionLimits, ServerConfig

_SHOWN_REJECTIONS = 20
_DB_HELP = "SQLite file, sqlite:/// URL or postgresql:// URL [GATEWAY_DATABASE_URL]."

logger = logging.getLogger("gateway")


def _settings(**overrides: object) -> Settings:
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


class _GracefulServer(uvicorn.Server):
    """Opens the store before it serves (a failure is one line, not a traceback). On SIGTERM:
    stop accepting, tell subscribers we are going away (1001), let in-flight requests and
    webhook transactions finish, then close the store."""

    def __init__(
        self,
        config: uvicorn.Config,
        close_connections: Callable[[int, str], Awaitable[None]],
        store: SessionStore,
        settings: Settings,
    ) -> None:
        super().__init__(config)
        self._close_connections = close_connections
        self._store = store
        self._settings = settings

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        # Server.serve is capture_signals around _serve; the store goes inside it, because on
        # leaving capture_signals uvicorn raises the caught SIGTERM again, ending the process
        # there: a store closed after that would never be closed (SQLite's log left behind,
        # PostgreSQL connections cut).
        with self.capture_signals():
            async with _opened(self._store, self._settings):
                await self._serve(sockets)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # After shutting down, uvicorn raises the signal it caught again, which ends the process
        # there and then: the log lines still queued for writing are written first.
        with super().capture_signals():
            try:
                yield
            finally:
                flush_logs()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections from here on
        await self._close_connections(1001, "server shutting down: reconnect with your sync token")
        await super().shutdown(sockets)


@click.group()
def main() -> None:
    """The session gateway: NIM-compatible server-side session lists over GraphQL."""


@main.command()
@click.option("--host", help="Interface to listen on [GATEWAY_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [GATEWAY_PORT, default 8000].")
@click.option("--db", help=_DB_HELP)
@click.option("--demo", is_flag=True, help="Seed demo data into an empty database, print a token.")
@click.option(
    "--workers", type=int, default=1, show_default=True,
    help="Worker processes (PostgreSQL only: its NOTIFY wakes every worker).",
)  # fmt: skip
def serve(host: str | None, port: int | None, db: str | None, demo: bool, workers: int) -> None:
    """Run the gateway."""
    settings = _settings(host=host, port=port, database_url=db)
    if workers > 1 and not settings.uses_postgres():
        raise click.ClickException(
            "--workers needs PostgreSQL: with SQLite one process wakes its own subscribers"
        )
    configure_logging(settings.log_level, settings.log_format)
    try:
        keys = demo_keys(settings) if demo else None
        if keys is not None:
            settings = keys.applied(settings)
        settings.check_auth()
        _check_can_listen(settings.host, settings.port)
        store = open_store(settings)
        app = served_app(settings, store)  # checks the rest of the configuration
        # Only now that nothing stands in the way: a failed start leaves nothing behind.
        if keys is not None:
            asyncio.run(_seed_if_empty(settings))
            keys.keep()
    except ConfigurationError as e:
        raise click.ClickException(e.message) from None
    if keys is not None:
        click.echo(banner(settings, keys))
    if workers > 1:
        asyncio.run(_check_store(settings))  # each worker opens its own; fail here, readably
        _serve_workers(settings, workers)
        return
    # uvicorn logs through our handler (JSON, with request ids).
    config = _server_config(settings, app, log_config=None)
    _GracefulServer(config, app.state.close_connections, store, settings).run()


def _check_can_listen(host: str, port: int) -> None:
    """Fail before touching the database when the address cannot be bound (bound as asyncio's
    ``create_server`` binds it, then released at once)."""
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(address)
    except OSError as e:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ConfigurationError(f"cannot listen on {where}: {e.strerror or e}") from None


def _serve_workers(settings: Settings, workers: int) -> None:
    # Each worker builds its app from the environment, so pass on what was set here.
    for name, value in settings.model_dump().items():
        if value is not None:
            secret = value.get_secret_value() if isinstance(value, SecretStr) else value
            text = str(secret).lower() if isinstance(secret, bool) else str(secret)
            os.environ[f"GATEWAY_{name.upper()}"] = text
    config = _server_config(
        settings,
        "gateway.web.app:app_from_environment",
        factory=True,
        workers=workers,
        log_config=None,  # each worker configures ours (JSON, request ids) as it builds its app
    )
    # What uvicorn.run does for workers, with our configuration (it is passed to each worker).
    Multiprocess(config, sockets=[config.bind_socket()]).run()


def _server_config(settings: Settings, app: object, **options: Any) -> ServerConfig:
    limits = ConnectionLimits(
        max_head_bytes=settings.http_max_header_bytes,
        head_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
    )
    return ServerConfig(
        app,
        limits=limits,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        timeout_keep_alive=settings.http_keep_alive_timeout_s,
        limit_concurrency=settings.http_max_connections or None,
        **options,
    )


@main.command()
@click.argument("account")
@click.option("--ttl", default=86400, show_default=True, help="Lifetime in seconds.")
def token(account: str, ttl: int) -> None:
    """Print a development JWT for ACCOUNT, signed with GATEWAY_JWT_SECRET."""
    try:
        click.echo(issue_token(_settings(), account, ttl_seconds=ttl))
    except ConfigurationError as e:
        raise click.ClickException(e.message) from None


@main.command()
@click.option("--db", help=_DB_HELP)
def seed(db: str | None) -> None:
    """Fill a database with demo accounts, sessions and histories."""
    settings = _settings(database_url=db)
    summary = asyncio.run(_seed(settings))
    if summary.already_there:
        click.echo(f"the demo data is already in {_database_name(settings)}: nothing to seed")
    else:
        click.echo(f"seeded {summary.messages} messages and {summary.recalls} recalls")


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db", help=_DB_HELP)
@click.option("--strict", is_flag=True, help="Exit with status 1 when any line is rejected.")
def import_(file: Path, db: str | None, strict: bool) -> None:
    """Apply a file of NIM CC events (JSON lines) as the webhook would."""
    settings = _settings(database_url=db)
    with (
        file.open("rb") as lines,
        progress(file.stat().st_size, f"importing {file.name}") as advance,
    ):
        report = asyncio.run(_import(settings, lines, lambda line: advance(len(line))))
    for number, reason in report.rejected[:_SHOWN_REJECTIONS]:
        click.echo(f"line {number}: {reason}", err=True)
    if len(report.rejected) > _SHOWN_REJECTIONS:
        click.echo(f"... and {len(report.rejected) - _SHOWN_REJECTIONS} more", err=True)
    click.echo(report.summary())
    if strict and report.rejected:
        sys.exit(1)


@main.command()
@click.argument("body")
@click.option("--secret", envvar="GATEWAY_NIM_APP_SECRET", required=True,
              help="NIM app secret [GATEWAY_NIM_APP_SECRET].")  # fmt: skip
@click.option("--method", default="POST", show_default=True,
              help="A team-registry request's method (with --path).")  # fmt: skip
@click.option("--path", "target", help="Sign a team-registry request to this path (and query), "
              "e.g. /nim/teams/42/members?type=TEAM, instead of a message-CC body.")  # fmt: skip
def sign(body: str, secret: str, method: str, target: str | None) -> None:
    """Print the MD5, CurTime and CheckSum headers NIM would send with BODY (for curl -H @file);
    with --path, the headers of one team-registry request (they work once)."""
    if target is None:
        headers = sign_body(secret, body.encode(), now_ms())
    else:
        headers = sign_request(secret, method, target, body.encode(), now_ms())
    for name, value in headers.items():
        click.echo(f"{name}: {value}")


@main.command("install-graphiql")
@click.option("--dir", "directory", help="Where to put them [GATEWAY_GRAPHIQL_DIR, default: a "
              "per-user data directory].")  # fmt: skip
def install_graphiql(directory: str | None) -> None:
    """Install GraphiQL's pinned assets from the npm registry, integrity-checked, so the
    explorer works without internet. Once per machine: every checkout and directory shares them."""
    target = graphiql.directory(directory or _settings().graphiql_dir)
    try:
        fresh = graphiql.install(target)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"GraphiQL assets {'installed' if fresh else 'already installed'} in {target}")


@main.command()
def schema() -> None:
    """Print the GraphQL schema (SDL); `schema.graphql` is this output."""
    sys.stdout.write(build_schema().as_str() + "\n")


@main.group("dead-letters")
def dead_letters_() -> None:
    """Signed CC bodies the gateway answered 200 but could not apply, kept for an operator (at
    most GATEWAY_DEAD_LETTER_LIMIT, oldest dropped first)."""


@dead_letters_.command("list")
@click.option("--db", help=_DB_HELP)
@click.option("--reason", help="Only letters kept for this reason (BAD_JSON, MISSING_FIELD, ...).")
@click.option("--after", type=int, default=0, show_default=True, help="Only ids after this one.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
def list_dead_letters(db: str | None, reason: str | None, after: int, limit: int) -> None:
    """One line a letter, oldest first: id, when, reason, size, what the body says it is."""
    settings = _settings(database_url=db)

    async def work(store: SessionStore) -> list[DeadLetter]:
        return await store.dead_letters(after=after, limit=limit, reason=reason, body_bytes=4096)

    letters = asyncio.run(_with_store(settings, work))
    for letter in letters:
        click.echo(f"{letter.id}\t{format_timestamp(letter.received_at)}\t{letter.reason}\t"
                   f"{letter.size} B\t{summary(letter.body)}")  # fmt: skip
    click.echo(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'}", err=True)


@dead_letters_.command("show")
@click.argument("letter_id", metavar="ID", type=int)
@click.option("--db", help=_DB_HELP)
@click.option(
    "--raw", is_flag=True, help="Write the body alone, byte for byte (to replay by hand)."
)
def show_dead_letter(letter_id: int, db: str | None, raw: bool) -> None:
    """A letter: when it came, why it was kept, its headers and its whole body."""
    settings = _settings(database_url=db)

    async def work(store: SessionStore) -> DeadLetter | None:
        return await store.dead_letter(letter_id)

    letter = asyncio.run(_with_store(settings, work))
    if letter is None:
        raise click.ClickException(f"no dead letter {letter_id}")
    if raw:
        sys.stdout.buffer.write(letter.body)
        return
    click.echo(f"id: {letter.id}\nreceived: {format_timestamp(letter.received_at)}")
    click.echo(f"reason: {letter.reason}\ndetail: {letter.detail}\nsize: {letter.size} B")
    for name, value in letter.headers.items():
        click.echo(f"header {name}: {readable(value)}")
    click.echo("body:")
    click.echo(readable(letter.body))


@dead_letters_.command("replay")
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every letter, oldest first.")
@click.option("--db", help=_DB_HELP)
def replay_dead_letters(ids: tuple[int, ...], every: bool, db: str | None) -> None:
    """Apply letters again through the webhook's own ingestion (after an upgrade that can use
    them). A letter applied, or found applied already, is deleted; one still refused stays.
    Replaying twice changes nothing more (a letter gone is "missing"). Exits with status 1 when
    any is still refused."""
    if bool(ids) == every:
        raise click.UsageError("name the letters to replay, or --all")
    settings = _settings(database_url=db)

    async def work(store: SessionStore) -> list[dead_letters.Replayed]:
        ingestor = Ingestor(store, now_ms)
        return [r async for r in dead_letters.replay(store, ingestor, None if every else ids)]

    results = asyncio.run(_with_store(settings, work))
    for result in results:
        said = f"{result.id}\t{result.outcome}"
        click.echo(f"{said}\t{result.detail}" if result.detail else said)
    refused = sum(result.refused for result in results)
    click.echo(f"{len(results) - refused} replayed, {refused} still refused", err=True)
    if refused:
        sys.exit(1)


@dead_letters_.command("purge")
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every letter.")
@click.option("--older-than", "days", type=click.FloatRange(0), help="Letters older than DAYS.")
@click.option("--db", help=_DB_HELP)
def purge_dead_letters(
    ids: tuple[int, ...], every: bool, days: float | None, db: str | None
) -> None:
    """Delete letters: those named, those older than --older-than days, or --all."""
    if sum((bool(ids), every, days is not None)) != 1:
        raise click.UsageError("name the letters to purge, or give --older-than DAYS, or --all")
    settings = _settings(database_url=db)

    async def work(store: SessionStore) -> int:
        if ids:
            return await store.forget_dead_letters(list(ids))
        before = None if days is None else now_ms() - int(days * 86_400_000)
        return await store.forget_dead_letters(received_before=before)

    gone = asyncio.run(_with_store(settings, work))
    click.echo(f"purged {gone} dead letter{'' if gone == 1 else 's'}")


T = TypeVar("T")


async def _with_store(settings: Settings, work: Callable[[SessionStore], Awaitable[T]]) -> T:
    async with _opened(open_store(settings), settings) as store:
        return await work(store)


@asynccontextmanager
async def _opened(store: SessionStore, settings: Settings) -> AsyncIterator[SessionStore]:
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
                f"cannot open {_database_name(settings)}: {' '.join(reason.split())}"
            ) from None
        try:
            yield store
        finally:
            await stack.aclose()
            logger.info("closed the store")


def _database_name(settings: Settings) -> str:
    """The database ``settings`` names, for messages: never its password."""
    if not settings.uses_postgres():
        return f"the SQLite database {settings.sqlite_path()}"
    url = urlparse(settings.database_url)
    server = url.netloc.rpartition("@")[2] or "localhost"
    if not server.rpartition("]")[2].count(":"):
        server += ":5432"
    return f"the PostgreSQL database {url.path.lstrip('/') or '(default)'} at {server}"


async def _check_store(settings: Settings) -> None:
    async with _opened(open_store(settings), settings):
        pass


async def _seed(settings: Settings) -> SeedSummary:
    async with _opened(open_store(settings), settings) as store:
        return await seed_demo(store, now_ms())


async def _import(
    settings: Settings, lines: Iterable[bytes], on_line: Callable[[bytes], None]
) -> ImportReport:
    async with _opened(open_store(settings), settings) as store:
        return await import_lines(store, lines, on_line)


async def _seed_if_empty(settings: Settings) -> None:
    async with _opened(open_store(settings), settings) as store:
        if await store.is_empty():
            summary = await seed_demo(store, now_ms())
            click.echo(f"demo: seeded {summary.messages} messages")
