"""The ``gateway`` command: serve, token, seed, schema."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys

import click
import uvicorn
from pydantic import SecretStr, ValidationError

from gateway.auth import issue_token
from gateway.demo import SeedSummary
from gateway.demo import seed as seed_demo
from gateway.errors import ConfigurationError
from gateway.schema import build_schema
from gateway.settings import Settings
from gateway.web.app import create_app, now_ms, open_store

DEMO_ACCOUNT = "alice"


def _settings(**overrides: object) -> Settings:
    try:
        settings = Settings()
    except ValidationError as e:
        raise click.ClickException(f"bad configuration in the environment:\n{e}") from None
    given = {name: value for name, value in overrides.items() if value is not None}
    return settings.model_copy(update=given) if given else settings


@click.group()
def main() -> None:
    """The session gateway: NIM-compatible server-side session lists over GraphQL."""


@main.command()
@click.option("--host", help="Interface to listen on [GATEWAY_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [GATEWAY_PORT, default 8000].")
@click.option("--db", help="SQLite file or sqlite:/// URL [GATEWAY_DATABASE_URL].")
@click.option("--demo", is_flag=True, help="Seed demo data into an empty database, print a token.")
def serve(host: str | None, port: int | None, db: str | None, demo: bool) -> None:
    """Run the gateway."""
    settings = _settings(host=host, port=port, database_url=db)
    if demo and settings.jwt_secret is None and settings.jwt_public_key is None:
        # A throwaway key: tokens from this run stop working when it ends.
        settings = settings.model_copy(update={"jwt_secret": SecretStr(secrets.token_urlsafe(32))})
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    try:
        settings.check_auth()
        if demo:
            asyncio.run(_seed_if_empty(settings))
        app = create_app(settings)
    except ConfigurationError as e:
        raise click.ClickException(e.message) from None
    if demo:
        _print_demo_banner(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())


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
@click.option("--db", help="SQLite file or sqlite:/// URL [GATEWAY_DATABASE_URL].")
def seed(db: str | None) -> None:
    """Fill a database with demo accounts, sessions and histories."""
    settings = _settings(database_url=db)
    summary = asyncio.run(_seed(settings))
    click.echo(f"seeded {summary.messages} messages and {summary.recalls} recalls into "
               f"{settings.sqlite_path()}")  # fmt: skip


@main.command()
def schema() -> None:
    """Print the GraphQL schema (SDL); `schema.graphql` is this output."""
    sys.stdout.write(build_schema().as_str() + "\n")


async def _seed(settings: Settings) -> SeedSummary:
    store = open_store(settings)
    await store.open()
    try:
        return await seed_demo(store, now_ms())
    finally:
        await store.close()


async def _seed_if_empty(settings: Settings) -> None:
    store = open_store(settings)
    await store.open()
    try:
        if await store.is_empty():
            summary = await seed_demo(store, now_ms())
            click.echo(f"demo: seeded {summary.messages} messages into {settings.sqlite_path()}")
    finally:
        await store.close()


def _print_demo_banner(settings: Settings) -> None:
    token = issue_token(settings, DEMO_ACCOUNT)
    url = f"http://{settings.host}:{settings.port}/graphql"
    click.echo(
        f"\nGraphiQL: {url}\n"
        f"Token for {DEMO_ACCOUNT} (send as 'Authorization: Bearer <token>'):\n{token}\n\n"
        f"Try:\n  curl -s {url} -H 'Authorization: Bearer {token}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"query": "{ sessions(first: 2) { totalCount edges { node { key lastMessage '
        "{ text } } } pageInfo { endCursor hasNextPage } } }\"}'\n",
        nl=True,
    )
