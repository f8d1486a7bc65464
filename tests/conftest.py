from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gateway.auth import issue_token
from gateway.settings import Settings
from gateway.store.sqlite import SqliteStore
from gateway.web.app import create_app
from tests.helpers import APP_SECRET, SECRET, T0, GraphQLClient, post_signed


class Clock:
    """The server's clock, set by the test."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=str(tmp_path / "gateway.db"),
        jwt_secret=SecretStr(SECRET),
        nim_app_secret=SecretStr(APP_SECRET),
    )


@pytest.fixture
def statements() -> list[str]:
    """Every SQL statement the store runs, in order."""
    return []


@pytest.fixture
async def store(settings: Settings, statements: list[str]) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(settings.sqlite_path(), readers=2, trace=statements.append)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + 3_600_000)


@pytest.fixture
async def http(
    settings: Settings, store: SqliteStore, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, store=store, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


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

    async def team(self, tid: str, members: list[str], kind: str = "TEAM") -> None:
        body = {"type": kind, "members": members}
        await self.ok(body, f"/nim/teams/{tid}/members", method="PUT")


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
def carol(as_user: Callable[[str], GraphQLClient]) -> GraphQLClient:
    return as_user("carol")


@pytest.fixture
def anonymous(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http, None)


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return int(port)
