"""The ``gateway`` command: serve, token, seed, import, sign, schema, dead-letters
(dead_letter_commands.py)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import click
from pydantic import SecretStr

from gateway._cli import DB_HELP, database_name, opened, settings_from_environment
from gateway.dead_letter_commands import dead_letters
from gateway.demo import SeedSummary
from gateway.demo import seed as seed_demo
from gateway.demo_banner import banner
from gateway.demo_keys import DEMO_DATABASE, SUFFIX, DemoKeys, demo_keys, kept_keys
from gateway.domain.checksum import sign as sign_body
from gateway.domain.checksum import sign_request
from gateway.errors import ConfigurationError
from gateway.importer import BATCH_LINES, ImportReport, import_file
from gateway.ingest import wall_clock_ms as now_ms
from gateway.logs import configure_logging
from gateway.progress import Advance, progress
from gateway.settings import Settings
from gateway.store import open_store

_SHOWN_REJECTIONS = 20

logger = logging.getLogger("gateway")


@click.group()
@click.version_option(package_name="session-gateway", prog_name="gateway")
def main() -> None:
    """The session gateway: NIM-compatible server-side session lists over GraphQL."""


@main.command()
@click.option("--host", help="Interface to listen on [GATEWAY_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [GATEWAY_PORT, default 8000].")
@click.option("--db", help=DB_HELP)
@click.option("--demo", is_flag=True, help="Seed demo data into an empty database, print a token.")
@click.option(
    "--workers", type=int, default=1, show_default=True,
    help="Worker processes (PostgreSQL only: its NOTIFY wakes every worker).",
)  # fmt: skip
def serve(host: str | None, port: int | None, db: str | None, demo: bool, workers: int) -> None:
    """Run the gateway."""
    from gateway.web.app import served_app  # the web stack: loaded by the commands that serve

    settings = settings_from_environment(host=host, port=port, database_url=db)
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
        from gateway.server.workers import serve_workers

        asyncio.run(_check_store(settings))  # each worker opens its own; fail here, readably
        serve_workers(settings, workers)
        return
    from gateway.server.config import server_config
    from gateway.server.graceful import GracefulServer

    # uvicorn logs through our handler (JSON, with request ids).
    config = server_config(settings, app, log_config=None)
    GracefulServer(config, app.state.close_connections, opened(store, settings)).run()


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
        hint = ""
        if e.errno == errno.EADDRINUSE:
            other = 8021 if port != 8021 else 8022
            hint = (
                f": another program has it. Choose another port: GATEWAY_PORT={other} make demo,"
                f" or gateway serve --port {other}"
            )
        raise ConfigurationError(f"cannot listen on {where}: {e.strerror or e}{hint}") from None


DEMO_KEYS_HELP = (
    f"Use the key of the demo in this directory ({DEMO_DATABASE}{SUFFIX}, which `make demo` "
    "keeps), or of the demo on --db."
)
DEMO_DB_HELP = (
    "With --demo: the SQLite file the demo serves (`gateway serve --demo --db FILE`) "
    f"[default: GATEWAY_DATABASE_URL's, else {DEMO_DATABASE}]."
)


def _demo_keys(db: str | None) -> DemoKeys:
    """The keys kept beside the demo's database: ``db``, else the environment's SQLite file,
    else the one `make demo` serves."""
    if db is None and (url := os.environ.get("GATEWAY_DATABASE_URL")):
        settings = Settings(database_url=url)
        db = None if settings.uses_postgres() else settings.sqlite_path()
    return kept_keys(db or DEMO_DATABASE)


@main.command()
@click.argument("account")
@click.option("--ttl", default=86400, show_default=True, help="Lifetime in seconds.")
@click.option("--demo", is_flag=True, help=DEMO_KEYS_HELP)
@click.option("--db", help=DEMO_DB_HELP)
def token(account: str, ttl: int, demo: bool, db: str | None) -> None:
    """Print a development JWT for ACCOUNT, signed with GATEWAY_JWT_SECRET."""
    from gateway.auth import issue_token

    try:
        settings = settings_from_environment()
        if demo:
            secret = SecretStr(_demo_keys(db).jwt_secret)
            settings = settings.model_copy(update={"jwt_secret": secret})
        elif settings.jwt_secret is None:
            raise ConfigurationError(
                "GATEWAY_JWT_SECRET is not set: cannot sign a token. Set it to the gateway's "
                "secret, or, beside a running `make demo`, pass --demo"
            )
        click.echo(issue_token(settings, account, ttl_seconds=ttl))
    except ConfigurationError as e:
        raise click.ClickException(e.message) from None


@main.command()
@click.option("--db", help=DB_HELP)
def seed(db: str | None) -> None:
    """Fill a database with demo accounts, sessions and histories."""
    settings = settings_from_environment(database_url=db)
    summary = asyncio.run(_seed(settings))
    if summary.already_there:
        click.echo(f"the demo data is already in {database_name(settings)}: nothing to seed")
    else:
        click.echo(f"seeded {summary.messages} messages and {summary.recalls} recalls")


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db", help=DB_HELP)
@click.option("--strict", is_flag=True, help="Exit with status 1 when any line is rejected.")
@click.option("--batch-size", type=click.IntRange(min=1), default=BATCH_LINES, show_default=True,
              help="Lines applied in one transaction.")  # fmt: skip
@click.option(
    "--restart",
    is_flag=True,
    help="Start from the first line even when an "
    "interrupted import of this file can resume (nothing is applied twice either way).",
)
def import_(file: Path, db: str | None, strict: bool, batch_size: int, restart: bool) -> None:
    """Apply a file of NIM CC events (JSON lines) by the webhook's rules, in batches; an
    interrupted import of the same file resumes where it stopped."""
    settings = settings_from_environment(database_url=db)
    with progress(file.stat().st_size, f"importing {file.name}") as advance:
        report = asyncio.run(_import(settings, file, advance, batch_size, restart))
    if report.resumed_at:
        click.echo(f"resumed an interrupted import after line {report.resumed_at}", err=True)
    rejected = len(report.rejected) + report.more_rejected
    for number, reason in report.rejected[:_SHOWN_REJECTIONS]:
        click.echo(f"line {number}: {reason}", err=True)
    if rejected > _SHOWN_REJECTIONS:
        click.echo(f"... and {rejected - _SHOWN_REJECTIONS} more", err=True)
    click.echo(report.summary())
    if strict and report.rejected:
        sys.exit(1)


@main.command()
@click.argument("body")
@click.option("--secret", envvar="GATEWAY_NIM_APP_SECRET",
              help="NIM app secret [GATEWAY_NIM_APP_SECRET].")  # fmt: skip
@click.option("--method", default="POST", show_default=True,
              help="A team-registry request's method (with --path).")  # fmt: skip
@click.option("--demo", is_flag=True, help=DEMO_KEYS_HELP)
@click.option("--db", help=DEMO_DB_HELP)
@click.option("--path", "target", help="Sign a team-registry request to this path (and query), "
              "e.g. /nim/teams/42/members?type=TEAM, instead of a message-CC body.")  # fmt: skip
def sign(
    body: str, secret: str | None, method: str, target: str | None, demo: bool, db: str | None
) -> None:
    """Print the MD5, CurTime and CheckSum headers NIM would send with BODY (for curl -H @file);
    with --path, the headers of one team-registry request (they work once)."""
    if demo:
        try:
            secret = _demo_keys(db).nim_app_secret
        except ConfigurationError as e:
            raise click.ClickException(e.message) from None
    if not secret:
        raise click.ClickException(
            "no NIM app secret: set GATEWAY_NIM_APP_SECRET (your NIM app's AppSecret, the one "
            "the gateway has; `make demo` prints the demo's), pass --secret, or, beside a running "
            "`make demo`, pass --demo"
        )
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
    from gateway import graphiql

    target = graphiql.directory(directory or settings_from_environment().graphiql_dir)
    try:
        fresh = graphiql.install(target)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"GraphiQL assets {'installed' if fresh else 'already installed'} in {target}")


@main.command()
def schema() -> None:
    """Print the GraphQL schema (SDL); `schema.graphql` is this output."""
    from gateway.schema import build_schema

    sys.stdout.write(build_schema().as_str() + "\n")


async def _check_store(settings: Settings) -> None:
    async with opened(open_store(settings), settings):
        pass


async def _seed(settings: Settings) -> SeedSummary:
    async with opened(open_store(settings), settings) as store:
        return await seed_demo(store, now_ms())


async def _import(
    settings: Settings, file: Path, advance: Advance, batch_size: int, restart: bool
) -> ImportReport:
    async with opened(open_store(settings), settings) as store:
        return await import_file(store, file, advance, batch_lines=batch_size, restart=restart)


async def _seed_if_empty(settings: Settings) -> None:
    async with opened(open_store(settings), settings) as store:
        if await store.is_empty():
            summary = await seed_demo(store, now_ms())
            click.echo(f"demo: seeded {summary.messages} messages")


main.add_command(dead_letters)
