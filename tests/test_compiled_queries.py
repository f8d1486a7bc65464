"""Compiled queries answer exactly as graphql-core does, including when they cannot.

A toy schema gives the compiler every shape it must either compile or hand back: values that
break a non-null field, a scalar that does not coerce, tuples for lists, an object of another
class, resolvers below the root (synchronous, awaited, failing), aliases, fragments and
directives. Each document runs on a schema that compiles (three times: the first run executes
through graphql-core and compiles) and on plain Strawberry; the responses must be the same.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import strawberry

from gateway._compat import graphql_core
from gateway.errors import BadUserInput
from gateway.fastpath import QueryCache
from gateway.schema import GatewaySchema, build_schema
from tests.helpers import GraphQLClient

calls: Counter[str] = Counter()


@strawberry.interface
class Thing:
    name: str


@strawberry.type
class Box(Thing):
    size: int | None = None


@strawberry.type
class Crate(Thing):
    pass


class NotABox:
    name = "impostor"
    size = 1


@strawberry.type
class Item:
    name: str
    tags: list[str]
    size: int | None = None
    ratio: float = 0.5
    ok: bool = True

    @strawberry.field
    def upper(self) -> str:
        return self.name.upper()

    @strawberry.field
    async def later(self) -> list[str]:
        return [self.name, *self.tags]

    @strawberry.field
    async def broken(self) -> int:
        if self.name == "bad":
            raise BadUserInput("no size for bad")
        return len(self.name)

    @strawberry.field
    async def child(self) -> Item | None:
        return None if not self.tags else Item(name=self.tags[0], tags=[])


def _items(mode: str) -> list[Any]:
    plain = [Item(name="a", tags=["x", "y"], size=1), Item(name="b", tags=[], size=None)]
    shapes: dict[str, list[Any]] = {
        "ok": plain,
        "null_name": [*plain, Item(name=None, tags=[])],  # type: ignore[arg-type]
        "tuple_tags": [Item(name="t", tags=("p", "q"))],  # type: ignore[arg-type]
        "huge_int": [Item(name="h", tags=[], size=2**40)],
        "int_as_str": [Item(name="s", tags=[], size="7")],  # type: ignore[arg-type]
        "bool_as_int": [Item(name="s", tags=[], size=True)],
        "bad": [*plain, Item(name="bad", tags=[])],
        "null_tag": [Item(name="n", tags=["ok", None])],  # type: ignore[list-item]
    }
    return shapes[mode]


@strawberry.type
class Query:
    @strawberry.field
    async def items(self, mode: str = "ok") -> list[Item]:
        calls["items"] += 1
        return _items(mode)

    @strawberry.field
    def first(self, mode: str = "ok") -> Item:
        calls["first"] += 1
        first: Item = _items(mode)[0]
        return first

    @strawberry.field
    def refused(self) -> int:
        raise BadUserInput("refused")

    @strawberry.field
    async def maybe(self, fail: bool = False) -> str | None:
        if fail:
            raise ValueError("unexpected")
        return "here"

    @strawberry.field
    def thing(self, kind: str) -> Thing | None:
        return {"box": Box(name="b", size=3), "crate": Crate(name="c"),
                "impostor": NotABox(), "none": None}[kind]  # type: ignore[return-value]  # fmt: skip


def _compiling() -> GatewaySchema:
    return GatewaySchema(
        query=Query, types=[Box, Crate], compiler=QueryCache(hide_suggestions=False)
    )


REFERENCE = strawberry.Schema(query=Query, types=[Box, Crate])

DOCUMENTS = [
    "{ items { name tags size ratio ok upper } }",
    '{ items(mode: "null_name") { name } }',
    '{ items(mode: "tuple_tags") { tags } }',
    '{ items(mode: "huge_int") { size } }',
    '{ items(mode: "int_as_str") { size } }',
    '{ items(mode: "bool_as_int") { size } }',
    '{ items(mode: "null_tag") { tags } }',
    '{ items(mode: "bad") { name broken } }',
    "{ items { later child { name child { name } } } }",
    "{ a: items { n: name, ...F } b: first { __typename ...F } } fragment F on Item { tags }",
    "{ refused items { name } }",
    "{ maybe items { name } }",
    "{ maybe(fail: true) items { name } }",
    "query Q($mode: String!) { items(mode: $mode) { name } }",
    "query Q($include: Boolean!) { items { name tags @include(if: $include) } }",
    '{ thing(kind: "box") { __typename name ... on Box { size } } }',
    '{ thing(kind: "crate") { __typename name ... on Box { size } } }',
    '{ thing(kind: "impostor") { name } }',
    '{ thing(kind: "none") { name } }',
    '{ first(mode: "null_name") { name } items { name } }',
]
VARIABLES: dict[str, Any] = {"mode": "ok", "include": False}


def _response(result: Any) -> dict[str, Any]:
    errors = [(e.message, e.path, [(loc.line, loc.column) for loc in e.locations or []])
              for e in result.errors or []]  # fmt: skip
    return {"data": result.data, "errors": errors}


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_compiled_answers_as_graphql_core(document: str) -> None:
    expected = _response(await REFERENCE.execute(document, variable_values=VARIABLES))
    schema = _compiling()
    answers = [_response(await schema.execute(document, variable_values=VARIABLES))
               for _ in range(3)]  # fmt: skip
    assert answers == [expected] * 3


async def test_clean_documents_run_compiled_and_resolve_once() -> None:
    schema, document = _compiling(), "{ items { name tags upper later } }"
    await schema.execute(document)
    assert schema.is_compiled(document)
    calls.clear()
    for _ in range(5):
        await schema.execute(document)
    assert calls["items"] == 5


async def test_a_document_compiles_for_the_operation_a_request_names() -> None:
    schema = _compiling()
    one = "query Items { items { name } }"
    await schema.execute(one)  # no operationName: the document's one operation
    assert schema.is_compiled(one)
    assert schema.is_compiled(one, "Items")
    two = "query A { items { name } } query B { items { tags } }"
    await schema.execute(two, operation_name="B")
    assert schema.is_compiled(two, "B")
    assert not schema.is_compiled(two, "A")
    assert not schema.is_compiled(two)  # without a name, graphql-core refuses it
    answers = [_response(await schema.execute(two, operation_name=n)) for n in ("B", "A", None)]
    expected = [_response(await REFERENCE.execute(two, operation_name=n)) for n in ("B", "A", None)]
    assert answers == expected


async def test_what_is_not_compiled_runs_through_graphql_core() -> None:
    schema = _compiling()
    not_compiled = [
        "query Q($include: Boolean!) { items { name @include(if: $include) } }",
        "{ __typename items { name } }",
        "{ __schema { queryType { name } } }",
    ]
    for document in not_compiled:
        first = _response(await schema.execute(document, variable_values=VARIABLES))
        assert _response(await schema.execute(document, variable_values=VARIABLES)) == first
        assert not schema.is_compiled(document)


async def test_an_operation_that_falls_back_is_charged_one_rate_limit_token(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    # A bad cursor makes the compiled query fall back to graphql-core, which gives the error.
    bad = '{ sessions(after: "forged") { totalCount } }'
    limits = {"rate_limit_reads_per_minute": 1, "rate_limit_reads_burst": 3}
    async with app_with(**limits) as http:
        alice = GraphQLClient(http, token_for("alice"))
        answers = [(await alice(bad)).codes for _ in range(4)]
    assert answers == [["BAD_USER_INPUT"]] * 3 + [["RATE_LIMITED"]]


async def test_compiled_operations_are_counted_in_the_metrics(
    app_with: Callable[..., httpx.AsyncClient], token_for: Callable[[str], str]
) -> None:
    async with app_with() as http:
        alice = GraphQLClient(http, token_for("alice"))
        for _ in range(3):
            await alice.ok("query Page { sessions { totalCount } }")
        await alice('query Page { sessions(after: "forged") { totalCount } }')
        metrics = (await http.get("/metrics")).text
    assert 'gateway_graphql_operation_seconds_count{operation="Page",type="query"} 4.0' in metrics
    assert 'gateway_graphql_errors_total{code="BAD_USER_INPUT"} 1.0' in metrics


PAGES = [
    # The page of the benchmark (W1), with every field a session and its message have: each
    # must run compiled, request after request, on sessions with and without a last message,
    # recalled or pinned; a fallback is an answer at graphql-core's speed.
    "{ sessions(first: 20) { edges { cursor node { id key updateTime unreadCount lastMessage "
    "{ serverId from text time } } } pageInfo { hasNextPage endCursor } } }",
    "{ sessions { edges { cursor node { __typename id key type target updateTime serverExt "
    "lastMessageKind unreadCount lastReadTime pinnedAt pinned muted lastMessage { serverId "
    "clientId from type text attachment ext time } lastRevokeNotification { messageServerId "
    "operator time postscript } } } nodes { key } totalCount pageInfo { hasNextPage "
    "hasPreviousPage startCursor endCursor } } }",
    '{ session(id: "p2p|bob") { id key lastMessage { text attachment } } '
    'node(id: "p2p|carol") { ... on Session { key pinned lastRevokeNotification { operator } } } }',
]


@pytest.mark.usefixtures("alices_sessions")
@pytest.mark.parametrize("page", PAGES)
async def test_the_gateways_pages_never_fall_back(
    http: httpx.AsyncClient, alice: GraphQLClient, page: str
) -> None:
    answers = [await alice.ok(page) for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0] != {}
    metrics = (await http.get("/metrics")).text
    assert "gateway_graphql_compiled_fallbacks_total 0.0" in metrics


def test_the_gateway_schema_compiles_unless_traced() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    assert build_schema()._compiler is not None  # type: ignore[attr-defined]
    assert build_schema(planned=False)._compiler is None  # type: ignore[attr-defined]
    assert build_schema(tracer_provider=TracerProvider())._compiler is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("operation_name", [{}, 5, ["Q"], "Nope"])
async def test_operation_names_that_are_not_names_are_refused_as_graphql_core_refuses_them(
    operation_name: Any,
) -> None:
    document = "query Q { items { name } }"
    schema = _compiling()
    await schema.execute(document)  # compiled for (document, no operation name)

    async def outcome(schema: strawberry.Schema) -> object:
        try:
            return _response(await schema.execute(document, operation_name=operation_name))
        except Exception as e:
            return type(e), str(e)

    assert await outcome(schema) == await outcome(REFERENCE)


async def test_a_document_the_compiler_fails_on_runs_through_graphql_core(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The compiler leans on graphql-core's and Strawberry's internals (pinned): if one changed
    # under it, the document keeps running as before, uncompiled, and the log says why once.
    def changed(*args: object, **kwargs: object) -> object:
        raise TypeError("collect_fields() takes 5 positional arguments")

    monkeypatch.setattr(graphql_core, "collect_fields", changed)
    schema, document = _compiling(), "{ items { name tags } }"
    expected = _response(await REFERENCE.execute(document))
    with caplog.at_level(logging.WARNING, "gateway.fastpath"):
        answers = [_response(await schema.execute(document)) for _ in range(3)]
    assert answers == [expected] * 3
    assert not schema.is_compiled(document)
    [warning] = [r for r in caplog.records if "could not compile" in r.getMessage()]
    assert warning.exc_info is not None
