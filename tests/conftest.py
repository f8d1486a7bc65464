from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from gateway.auth import issue_token
from gateway.settings import Settings
from gateway.store import PostgresStore, SessionStore, SqliteStore
from gateway.web.app import create_app
from tests.helpers import (
    APP_SECRET,
    SECRET,
    T0,
    GraphQLClient,
    cc_message,
    cc_recall,
    post_signed,
)
from tests.process import free_tcp_port
from tests.schemas import ReusedSchemas, url_of


class Clock:
    """The server's clock, set by the test."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "")


@pytest.fixture(scope="session")
def reused_schemas() -> Iterator[ReusedSchemas | None]:
    """Migrated PostgreSQL schemas the suite's tests share, one at a time (tests/schemas.py)."""
    if not POSTGRES_URL:
        yield None
        return
    schemas = ReusedSchemas(POSTGRES_URL)
    yield schemas
    asyncio.run(schemas.drop_all())


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, reused_schemas: ReusedSchemas | None
) -> AsyncIterator[str]:
    """A database of each backend with no data in it: a new SQLite file, or a PostgreSQL schema
    of its own, migrated (one a test before used, put back as it was: tests/schemas.py), or new
    and empty for a test marked ``fresh_database`` or in a ``test_upgrade_*`` module."""
    if request.param == "sqlite":
        yield str(tmp_path / "gateway.db")
        return
    if not POSTGRES_URL or reused_schemas is None:
        pytest.skip("PostgreSQL cases run when GATEWAY_TEST_POSTGRES_URL is set (.ci/run sets it)")
    fresh = request.node.get_closest_marker("fresh_database") is not None or (
        request.module.__name__.rpartition(".")[2].startswith("test_upgrade_")
    )
    if fresh:
        async with postgres_schema(POSTGRES_URL) as url:
            yield url
        return
    schema = await reused_schemas.take()
    try:
        yield url_of(POSTGRES_URL, schema)
    finally:
        await reused_schemas.give_back(schema)


@asynccontextmanager
async def postgres_schema(base_url: str) -> AsyncIterator[str]:
    schema = await _create_schema(base_url)
    try:
        yield url_of(base_url, schema)
    finally:
        await _drop_schema(base_url, schema)


@contextmanager
def module_database(
    backend: str, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[str]:
    """A database of ``backend`` for a module's real server: a SQLite file or a PostgreSQL
    schema of its own (skipped without PostgreSQL)."""
    if backend == "sqlite":
        yield str(tmp_path_factory.mktemp(name) / "gw.db")
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL cases run when GATEWAY_TEST_POSTGRES_URL is set (.ci/run sets it)")
    with sync_postgres_schema(POSTGRES_URL) as url:
        yield url


@contextmanager
def sync_postgres_schema(base_url: str) -> Iterator[str]:
    """``postgres_schema`` for fixtures that live outside an event loop (module scope)."""
    schema = asyncio.run(_create_schema(base_url))
    try:
        yield url_of(base_url, schema)
    finally:
        asyncio.run(_drop_schema(base_url, schema))


async def _create_schema(base_url: str) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base_url)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
    finally:
        await admin.close()
    return schema


async def _drop_schema(base_url: str, schema: str) -> None:
    admin = await asyncpg.connect(base_url)
    try:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await admin.close()


def settings_for(database_url: str) -> Settings:
    """The suite's settings on ``database_url``: its secrets, and no rate limits (tests drive
    many requests as one account; the rate-limit tests switch limits on)."""
    return Settings(
        database_url=database_url,
        jwt_secret=SecretStr(SECRET),
        nim_app_secret=SecretStr(APP_SECRET),
        rate_limit_reads_per_minute=0,
        rate_limit_writes_per_minute=0,
        rate_limit_anonymous_per_minute=0,
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture
def statements() -> list[str]:
    """Every SQL statement the store runs, in order."""
    return []


@pytest.fixture
def new_store(settings: Settings, statements: list[str]) -> Callable[[], SessionStore]:
    """Makes a store on the test's database; each call is like a restart or another replica."""

    def make() -> SessionStore:
        if settings.uses_postgres():
            return PostgresStore(settings.database_url, pool_size=4, trace=statements.append)
        return SqliteStore(settings.sqlite_path(), readers=2, trace=statements.append)

    return make


@pytest.fixture
async def store(new_store: Callable[[], SessionStore]) -> AsyncIterator[SessionStore]:
    async with new_store() as store:
        yield store


@pytest.fixture
async def sqlite_store(tmp_path: Path, statements: list[str]) -> AsyncIterator[SqliteStore]:
    """For what only SQLite has: its file, its query plans."""
    async with SqliteStore(
        tmp_path / "sqlite-only.db", readers=2, trace=statements.append
    ) as store:
        yield store


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + 3_600_000)


@pytest.fixture
async def http(
    settings: Settings, store: SessionStore, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture
def app_with(
    store: SessionStore, settings: Settings, clock: Clock
) -> Callable[..., httpx.AsyncClient]:
    """Makes a client of an app with some settings changed (on the test's store and clock)."""

    def make(**overrides: object) -> httpx.AsyncClient:
        app = create_app(settings.model_copy(update=overrides), store=store, clock=clock)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")

    return make


@pytest.fixture
def webhook(http: httpx.AsyncClient, clock: Clock) -> Webhook:
    return Webhook(http, clock)


class Webhook:
    """Posts signed NIM callbacks, as NIM would, at the server's current time."""

    def __init__(self, http: httpx.AsyncClient, clock: Clock) -> None:
        self.http = http
        self.clock = clock

    async def __call__(self, body: Any, path: str = "/nim/cc", **kwargs: Any) -> httpx.Response:
        return await post_signed(self.http, path, body, self.clock.now, **kwargs)

    async def ok(self, body: Any, path: str = "/nim/cc", **kwargs: Any) -> dict[str, Any]:
        response = await self(body, path, **kwargs)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def team(
        self, tid: str, members: list[str], kind: str = "TEAM", *, at: int = T0 - 1
    ) -> None:
        """Register ``members`` through the registry, which stamps them with the server's time:
        by default just before T0, the start of every test's history."""
        now, self.clock.now = self.clock.now, at
        try:
            body = {"type": kind, "members": members}
            await self.ok(body, f"/nim/teams/{tid}/members", method="PUT")
        finally:
            self.clock.now = now


@pytest.fixture
def token_for(settings: Settings) -> Callable[[str], str]:
    return lambda account: issue_token(settings, account)


@pytest.fixture
def as_user(
    http: httpx.AsyncClient, token_for: Callable[[str], str]
) -> Callable[[str], GraphQLClient]:
    return lambda account: GraphQLClient(http, token_for(account))


@pytest.fixture
def alice(as_user: Callable[[str], GraphQLClient]) -> GraphQLClient:
    return as_user("alice")


@pytest.fixture
def bob(as_user: Callable[[str], GraphQLClient]) -> GraphQLClient:
    return as_user("bob")


@pytest.fixture
async def alices_sessions(webhook: Webhook, alice: GraphQLClient) -> None:
    """Alice's list with one session of each shape: a text message (bob), a picture with an
    attachment, pinned (carol), a recalled message (dave)."""
    await webhook.ok(cc_message("m1", "bob", "alice", T0, text="hello"))
    await webhook.ok({**cc_message("m2", "carol", "alice", T0 + 1), "attach": '{"w": 1}',
                      "msgType": "PICTURE"})  # fmt: skip
    await webhook.ok(cc_message("m3", "dave", "alice", T0 + 2))
    await webhook.ok(cc_recall("m3", "dave", "alice", T0 + 3, note="oops"))
    await alice.ok('mutation { pinSession(input: {id: "p2p|carol", pinned: true}) { session '
                   "{ key } } }")  # fmt: skip


@pytest.fixture
def carol(as_user: Callable[[str], GraphQLClient]) -> GraphQLClient:
    return as_user("carol")


@pytest.fixture
def anonymous(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http, None)


@pytest.fixture
def free_port() -> int:
    return free_tcp_port()
