"""The fast path answers every operation the repository writes down exactly as graphql-core's
general executor does (issue 17): the same bytes, so the same data in the same key order and
the same errors (message, locations, path, extensions), with the same status and media type.

The fast path is the schema as the gateway builds it; the reference is the same schema built
with ``planned=False``. Both are served by the real HTTP app. Every document of the corpus
(tests/graphql_corpus.py) runs as alice and without a token, with the variables of
tests/differential.py; each request goes to the fast path twice (the second is served from its
caches) and must equal the reference both times. Queries share one seeded store; a document that
writes gets two copies of it, one per path, whose every table must end up the same.
Subscriptions are counted in the corpus but not sent (over HTTP they only fail).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from graphql import OperationDefinitionNode, parse
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

import gateway.web.app
from gateway.auth import issue_token
from gateway.schema import build_schema
from gateway.settings import Settings
from gateway.store import PostgresStore, SessionStore, SqliteStore
from gateway.web.graphql import GraphQLView
from gateway.web.status import GRAPHQL_RESPONSE
from tests import differential, graphql_corpus
from tests.conftest import (
    POSTGRES_URL,
    Clock,
    Webhook,
    module_database,
    postgres_schema,
    settings_for,
)
from tests.differential import Samples, variable_sets
from tests.graphql_corpus import Document
from tests.helpers import T0

CORPUS = graphql_corpus.collect(skip=[Path(__file__), Path(differential.__file__)])
# What the collector found when this test was written: fewer means it broke.
AT_LEAST = {"clients": 8, "docs": 20, "tests": 120}
REFERENCE = functools.partial(build_schema, planned=False)
ACCEPT = {"Accept": f"{GRAPHQL_RESPONSE}, application/json"}
SCHEMA = build_schema(planned=False)._schema
# On PostgreSQL, what reaches the store: variables refused before it are the same on both backends.
VARIANTS = ("as written", "given", "omitted")


def _ids(corpus: list[Document]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for document in corpus:
        seen[document.place] = seen.get(document.place, 0) + 1
        ids.append(
            document.place + ("" if seen[document.place] == 1 else f"#{seen[document.place]}")
        )
    return ids


@dataclass(frozen=True)
class Answer:
    status: int
    media_type: str
    body: bytes


@dataclass
class Endpoint:
    """One execution path serving one database: the app, as alice or without a token."""

    http: httpx.AsyncClient
    token: str
    clock: Clock
    url: str

    async def send(self, body: dict[str, Any], *, viewer: bool) -> Answer:
        headers = {**ACCEPT, **({"Authorization": f"Bearer {self.token}"} if viewer else {})}
        response = await self.http.post("/graphql", json=body, headers=headers)
        return Answer(response.status_code, response.headers["content-type"], response.content)


def _open_store(settings: Settings) -> SessionStore:
    if settings.uses_postgres():
        return PostgresStore(settings.database_url, pool_size=4)
    return SqliteStore(settings.sqlite_path(), readers=2)


def _app(settings: Settings, store: SessionStore, clock: Clock, *, reference: bool) -> Starlette:
    """The gateway's app: as it is built (the fast path), or with graphql-core's executor."""
    if reference:
        with mock.patch.object(gateway.web.app, "build_schema", REFERENCE):
            app = gateway.web.app.create_app(settings, store=store, clock=clock)
    else:
        app = gateway.web.app.create_app(settings, store=store, clock=clock)
    # Should the fast path move out of build_schema's execution context, make the reference
    # follow it: two apps on graphql-core's executor would compare it with itself.
    executor = _view(app).schema.execution_context_class  # type: ignore[attr-defined]
    plain = executor is StrawberryGraphQLCoreExecutionContext
    assert plain == reference, f"the {'reference' if reference else 'fast path'} runs {executor}"
    return app


def _view(app: Starlette) -> GraphQLView:
    for route in app.routes:
        if isinstance(route, Route) and isinstance(route.endpoint, GraphQLView):
            return route.endpoint
    raise AssertionError("no GraphQL view in the app")


@asynccontextmanager
async def _serving(url: str, *, reference: bool) -> AsyncIterator[Endpoint]:
    settings = settings_for(url)
    clock = Clock(T0 + 3_600_000)
    async with _open_store(settings) as store:
        app = _app(settings, store, clock, reference=reference)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            yield Endpoint(http, issue_token(settings, "alice"), clock, url)


@dataclass
class Served:
    """The seeded database (``url``) with both paths serving it, for reads; two copies of it,
    one per path, for writes; what the seed gave."""

    url: str
    fast: Endpoint
    reference: Endpoint
    copies: tuple[Endpoint, Endpoint]  # the fast path's, the reference's
    samples: Samples
    variants: Collection[str]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with module_database(request.param, tmp_path_factory, "differential") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(database: str) -> AsyncIterator[Served]:
    async with AsyncExitStack() as stack:
        reference = await stack.enter_async_context(_serving(database, reference=True))
        webhook = Webhook(reference.http, reference.clock)
        samples = await differential.seed(reference.http, webhook, reference.token)
        fast = await stack.enter_async_context(_serving(database, reference=False))
        copies = []
        for name, is_reference in (("fast", False), ("reference", True)):
            url = await stack.enter_async_context(_copy(database, name))
            copies.append(await stack.enter_async_context(_serving(url, reference=is_reference)))
        variants = VARIANTS if database.startswith("postgresql://") else differential.VARIANTS
        yield Served(database, fast, reference, (copies[0], copies[1]), samples, variants)


def test_the_corpus_has_every_source() -> None:
    counts = {source: sum(d.source == source for d in CORPUS) for source in graphql_corpus.SOURCES}
    subscriptions = sum(d.subscribes for d in CORPUS)
    writes = sum(d.writes for d in CORPUS)
    print(f"corpus: {counts}, {len(CORPUS)} documents, {writes} write, {subscriptions} subscribe")
    assert all(counts[s] >= n for s, n in AT_LEAST.items()), (counts, AT_LEAST)
    assert subscriptions
    assert writes


# Documents of subscriptions only are not served over HTTP: tests/test_live_frames.py runs them
# through both paths over WebSockets.
OVER_HTTP = [
    d for d in CORPUS if not all(operation.kind == "subscription" for operation in d.operations)
]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("document", OVER_HTTP, ids=_ids(OVER_HTTP))
async def test_the_fast_path_answers_as_graphql_core(served: Served, document: Document) -> None:
    requests = list(_requests(document, served.samples, served.variants))
    if not document.writes:
        for what, body, viewer in requests:
            await _same(served.fast, served.reference, body, viewer, what)
        return
    fast, reference = served.copies
    for copy in served.copies:  # as seeded, whatever the documents before this one wrote
        await _restore(served.url, copy.url)
    for what, body, viewer in requests:
        await _same(fast, reference, body, viewer, what, twice_each=True)
    assert await _rows(fast.url) == await _rows(reference.url), "the writes differ"
    after = {"query": "{ sessions { totalCount edges { cursor node { id key serverExt "
             "unreadCount lastReadTime pinned pinnedAt updateTime lastMessageKind } } } "
             "totalUnreadCount sessionChanges { syncToken } }"}  # fmt: skip
    await _same(fast, reference, after, True, "the list after the writes")


def _requests(
    document: Document, samples: Samples, variants: Collection[str]
) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Each request to make of a document: what it is, its body, whether alice sends it."""
    node = parse(document.text)
    operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
    named = len(operations) > 1
    if named or not operations:
        yield "no operation name", {"query": document.text}, True
    for operation in operations:
        if operation.operation.value == "subscription":
            continue
        name = operation.name.value if named and operation.name else None
        for variant, variables in variable_sets(SCHEMA, node, operation, samples):
            if variant not in variants:
                continue
            body = {"query": document.text, "variables": variables, "operationName": name}
            label = f"{name or 'the operation'}, variables {variant}: {variables}"
            yield f"{label}, as alice", body, True
            if variant in ("given", "as written"):
                yield f"{label}, without a token", body, False


async def _same(
    fast: Endpoint, reference: Endpoint, body: dict[str, Any], viewer: bool, what: str,
    *, twice_each: bool = False,
) -> None:  # fmt: skip
    """The fast path answers ``body`` twice as the reference does (which, when it writes,
    answers twice too, on its own copy)."""
    expected = await reference.send(body, viewer=viewer)
    for run in ("first", "second"):
        if run == "second" and twice_each:
            expected = await reference.send(body, viewer=viewer)
        answer = await fast.send(body, viewer=viewer)
        assert answer.status == expected.status, f"{what}: {run} run's status"
        assert answer.media_type == expected.media_type, f"{what}: {run} run's media type"
        assert answer.body.decode() == expected.body.decode(), f"{what}: {run} run's body"


# Copies of the seeded database: made once per backend, put back as seeded before each document
# that writes (behind the stores' backs: they keep no state of their own between requests).


@asynccontextmanager
async def _copy(url: str, name: str) -> AsyncIterator[str]:
    if not url.startswith("postgresql://"):
        copy = str(Path(url).with_name(f"{name}.db"))
        with sqlite3.connect(url) as seeded, sqlite3.connect(copy) as empty:
            seeded.backup(empty)
        yield copy
        return
    async with postgres_schema(POSTGRES_URL) as copy:
        db = await asyncpg.connect(POSTGRES_URL)
        try:
            source, target = _schema_of(url), _schema_of(copy)
            for table in await _table_names(db, source):
                await db.execute(f"CREATE TABLE {target}.{table} "
                                 f"(LIKE {source}.{table} INCLUDING ALL)")  # fmt: skip
        finally:
            await db.close()
        await _restore(url, copy)
        yield f"{copy}&synchronous_commit=off"  # a test's writes need not survive a crash


async def _restore(seeded: str, copy: str) -> None:
    """Make ``copy`` hold exactly the rows of ``seeded``."""
    if not seeded.startswith("postgresql://"):
        with sqlite3.connect(copy, timeout=5) as lite:
            lite.execute("ATTACH DATABASE ? AS seeded", (seeded,))
            for table in _sqlite_tables(lite):
                # Generated columns (id sort keys) are computed, never written.
                info = lite.execute(f"PRAGMA main.table_xinfo({table})").fetchall()
                columns = ", ".join(row[1] for row in info if row[6] == 0)
                lite.execute(f"DELETE FROM main.{table}")  # noqa: S608
                lite.execute(f"INSERT INTO main.{table} ({columns}) "  # noqa: S608
                             f"SELECT {columns} FROM seeded.{table}")  # fmt: skip
        return
    db = await asyncpg.connect(POSTGRES_URL)
    try:
        source, target = _schema_of(seeded), _schema_of(copy)
        async with db.transaction():
            for table in await _table_names(db, source):
                # Generated columns (id sort keys) are computed, never written; identities are.
                columns = ", ".join(await _written_columns(db, source, table))
                await db.execute(f"TRUNCATE {target}.{table}; INSERT INTO {target}.{table} "  # noqa: S608
                                 f"({columns}) OVERRIDING SYSTEM VALUE "
                                 f"SELECT {columns} FROM {source}.{table}")  # fmt: skip
    finally:
        await db.close()


async def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    if not url.startswith("postgresql://"):
        with sqlite3.connect(url) as lite:
            return {table: sorted(lite.execute(f"SELECT * FROM {table}"), key=repr)  # noqa: S608
                    for table in _sqlite_tables(lite)}  # fmt: skip
    db = await asyncpg.connect(POSTGRES_URL)
    try:
        schema = _schema_of(url)
        tables = {}
        for table in await _table_names(db, schema):
            rows = await db.fetch(f"SELECT * FROM {schema}.{table}")  # noqa: S608
            tables[table] = sorted((tuple(row) for row in rows), key=repr)
        return tables
    finally:
        await db.close()


def _sqlite_tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("SELECT name FROM main.sqlite_master WHERE type = 'table' "
                      "AND name NOT LIKE 'sqlite_%' ORDER BY name")  # fmt: skip
    return [name for (name,) in rows]


def _schema_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["search_path"][0]


async def _written_columns(db: asyncpg.Connection, schema: str, table: str) -> list[str]:
    rows = await db.fetch("SELECT column_name FROM information_schema.columns "
                          "WHERE table_schema = $1 AND table_name = $2 AND is_generated = 'NEVER' "
                          "ORDER BY ordinal_position", schema, table)  # fmt: skip
    return [row["column_name"] for row in rows]


async def _table_names(db: asyncpg.Connection, schema: str) -> list[str]:
    rows = await db.fetch("SELECT table_name FROM information_schema.tables "
                          "WHERE table_schema = $1 ORDER BY table_name", schema)  # fmt: skip
    return [row["table_name"] for row in rows]
