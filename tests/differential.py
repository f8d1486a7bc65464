"""What the differential tests send, and to what: a seeded store, both paths serving it through
the real HTTP app (the fast path, and graphql-core's executor alone), the comparison of their
answers, and variables for any operation, made from its variable definitions and the data in
that store.

Variables are chosen by what they feed (the argument or input field a variable is passed to:
``after`` gets a real cursor, ``since`` a real sync token, ``id`` a session the viewer has)
and, failing that, by their type. Each operation is sent with several sets of them:
``given`` (every variable), ``omitted`` (only what is required), ``nulls`` (optional ones null),
``unusable`` (well typed, refused by the resolvers: a forged cursor, ``first: 0``, an unknown
id), ``invalid`` (values of the wrong type) and ``missing`` (required ones left out).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import httpx
from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    ListValueNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    ValueNode,
    VariableNode,
    Visitor,
    is_input_type,
    type_from_ast,
    visit,
)
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
from tests.conftest import Clock, Webhook, settings_for
from tests.helpers import T0, cc_message, cc_recall

Variables = dict[str, Any]
VARIANTS = ("as written", "given", "omitted", "nulls", "missing", "unusable", "invalid")


REFERENCE = functools.partial(build_schema, planned=False)
ACCEPT = {"Accept": f"{GRAPHQL_RESPONSE}, application/json"}


@dataclass(frozen=True)
class Samples:
    """Values only the seeded store can give: a cursor of a real page, a sync token from
    before its last changes, the global ID of a conversation group."""

    cursor: str
    token: str
    group: str


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
    store: SessionStore

    async def send(self, body: dict[str, Any], *, viewer: bool) -> Answer:
        headers = {**ACCEPT, **({"Authorization": f"Bearer {self.token}"} if viewer else {})}
        response = await self.http.post("/graphql", json=body, headers=headers)
        return Answer(response.status_code, response.headers["content-type"], response.content)


@asynccontextmanager
async def serving(url: str, *, reference: bool) -> AsyncIterator[Endpoint]:
    """The gateway's app on ``url``: as it is built (the fast path), or with graphql-core's
    executor alone (the reference)."""
    settings = settings_for(url)
    clock = Clock(T0 + 3_600_000)
    async with _open_store(settings) as store:
        app = _app(settings, store, clock, reference=reference)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            yield Endpoint(http, issue_token(settings, "alice"), clock, url, store)


@asynccontextmanager
async def seeded(url: str) -> AsyncIterator[tuple[Endpoint, Endpoint, Samples]]:
    """The fast path and the reference serving ``url``, seeded (``seed``), and what the seed
    gave."""
    async with AsyncExitStack() as stack:
        reference = await stack.enter_async_context(serving(url, reference=True))
        webhook = Webhook(reference.http, reference.clock)
        samples = await seed(reference.http, webhook, reference.token)
        fast = await stack.enter_async_context(serving(url, reference=False))
        yield fast, reference, samples


async def same(
    fast: Endpoint, reference: Endpoint, body: dict[str, Any], viewer: bool, what: str,
    *, twice_each: bool = False, errors_in_any_order: bool = False,
) -> None:  # fmt: skip
    """The fast path answers ``body`` twice as the reference does (which, when it writes,
    answers twice too, on its own copy): the same status, media type and bytes. The second
    time, a query the fast path has executed once runs compiled.

    graphql-core lists the errors of fields that run at once in the order they fail: where
    reads run side by side (PostgreSQL's pool), that order changes from one request to the
    next, on either path. With ``errors_in_any_order``, answers may differ in that order only:
    the same errors, byte for byte, and everything else the same, in the same order."""
    expected = await reference.send(body, viewer=viewer)
    for run in ("first", "second"):
        if run == "second" and twice_each:
            expected = await reference.send(body, viewer=viewer)
        answer = await fast.send(body, viewer=viewer)
        assert answer.status == expected.status, f"{what}: {run} run's status"
        assert answer.media_type == expected.media_type, f"{what}: {run} run's media type"
        if errors_in_any_order and answer.body != expected.body:
            assert _errors_sorted(answer.body) == _errors_sorted(expected.body), (
                f"{what}: {run} run's body: {answer.body.decode()} != {expected.body.decode()}"
            )
            continue
        assert answer.body.decode() == expected.body.decode(), f"{what}: {run} run's body"


def _errors_sorted(body: bytes) -> object:
    """A response as (key, value) pairs in their order, its errors sorted."""
    pairs = json.loads(body, object_pairs_hook=list)
    if not isinstance(pairs, list):
        return pairs
    return [(key, sorted(value, key=repr) if key == "errors" else value) for key, value in pairs]


def _open_store(settings: Settings) -> SessionStore:
    if settings.uses_postgres():
        return PostgresStore(settings.database_url, pool_size=4)
    return SqliteStore(settings.sqlite_path(), readers=2)


def _app(settings: Settings, store: SessionStore, clock: Clock, *, reference: bool) -> Starlette:
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


def global_id(key: str) -> str:
    return base64.b64encode(f"Session:{key}".encode()).decode()


async def seed(http: httpx.AsyncClient, webhook: Webhook, token: str) -> Samples:
    """Give alice a list of every shape: P2P, team and super team sessions, more than a page,
    unread and read ones, pinned and muted ones, a recalled last message, a session without
    messages, attachments and exts that are JSON, not JSON and too deep to serve as JSON, a
    deletion, a conversation group (and one deleted)."""

    async def ok(query: str) -> Any:
        response = await http.post("/graphql", json={"query": query},
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    await webhook.team("1001", ["alice", "bob", "carol"])
    await webhook.team("1002", ["alice", "bob"])
    await webhook.team("3001", ["alice", "bob"], kind="SUPER_TEAM")
    for i in range(16):  # with the rest, more than a page of 20
        await webhook.ok(cc_message(f"peer-{i}", f"peer{i}", "alice", T0 + i, text=f"#{i}"))
    await webhook.ok(cc_message("bob-1", "bob", "alice", T0 + 100, text="hello"))
    await webhook.ok(cc_message("bob-2", "bob", "alice", T0 + 101, text="again"))
    await webhook.ok({**cc_message("carol-1", "carol", "alice", T0 + 200), "msgType": "PICTURE",
                      "attach": '{"w": 1, "h": [2, 3]}', "ext": '{"k": "v"}'})  # fmt: skip
    await webhook.ok(cc_message("dave-1", "dave", "alice", T0 + 300))
    await webhook.ok(cc_recall("dave-1", "dave", "alice", T0 + 301, note="oops", sent=T0 + 300))
    await webhook.ok({**cc_message("team-1", "bob", "1001", T0 + 400, conv="TEAM"),
                      "attach": deep_json(80), "ext": "not json {"})  # fmt: skip
    await webhook.ok(cc_message("team-2", "alice", "1002", T0 + 500, conv="TEAM"))
    await webhook.ok({**cc_message("super-1", "bob", "3001", T0 + 600, conv="SUPER_TEAM"),
                      "msgType": "CUSTOM", "attach": '{"type": "card"}'})  # fmt: skip
    await webhook.ok({**cc_message("robot-1", "robot", "alice", T0 + 700), "msgType": "ROBOT"})
    await ok(
        'mutation { a: pinSession(input: {id: "p2p|carol", pinned: true}) { session { key } }'
        ' b: pinSession(input: {id: "super_team|3001", pinned: true}) { session { key } }'
        ' c: markSessionsRead(input: {ids: ["p2p|peer0", "p2p|peer1"]}) { sessions { key } }'
        ' d: updateSessionExt(input: {id: "p2p|erin", ext: "{}"}) { session { key } } }'
    )
    groups = await ok(
        'mutation { work: createSessionGroup(input: {name: "Work", sessionIds: ["p2p|bob",'
        ' "team|1001", "p2p|nobody"]}) { group { id } }'
        ' gone: createSessionGroup(input: {name: "Gone", serverExt: "{}"}) { group { id } }'
        ' muteSessions(input: {ids: ["team|1001", "p2p|carol"], muted: true})'
        " { sessions { key } } }"
    )
    work, gone = (groups[name]["group"]["id"] for name in ("work", "gone"))
    token_then = (await ok("{ sessionChanges { syncToken } }"))["sessionChanges"]["syncToken"]
    await ok(
        'mutation { updateSessionExt(input: {id: "p2p|bob", ext: "muted"}) { session { key } }'
        ' deleteSessions(input: {ids: ["p2p|peer15", "p2p|peer14"]}) { deletedIds }'
        f' deleteSessionGroup(input: {{id: "{gone}"}}) {{ deletedId }}'
        f' updateSessionGroup(input: {{id: "{work}", serverExt: "x"}}) {{ group {{ id }} }} }}'
    )
    await webhook.ok(cc_message("gina-1", "gina", "alice", T0 + 800, text="late"))
    page = await ok("{ sessions(first: 3) { pageInfo { endCursor } } }")
    return Samples(cursor=page["sessions"]["pageInfo"]["endCursor"], token=token_then, group=work)


def variable_sets(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
    samples: Samples,
) -> Iterator[tuple[str, Variables]]:  # fmt: skip
    """The variants of an operation's variables, each named (see the module's docstring)."""
    if not operation.variable_definitions:
        yield "as written", {}
        return
    roles = _roles(document)
    definitions: list[tuple[str, GraphQLInputType, str, bool]] = []
    for definition in operation.variable_definitions:
        kind = type_from_ast(schema, definition.type)
        if not is_input_type(kind):
            yield "as written", {}  # an unknown type: refused before any value matters
            return
        name = definition.variable.name.value
        optional = not isinstance(kind, GraphQLNonNull) or definition.default_value is not None
        definitions.append((name, kind, roles.get(name, name), optional))
    good, bad = _Values(samples, usable=True), _Values(samples, usable=False)
    yield "given", {name: good.of(kind, role) for name, kind, role, _ in definitions}
    required = [(name, kind, role) for name, kind, role, optional in definitions
                if not optional]  # fmt: skip
    if len(required) < len(definitions):
        yield "omitted", {name: good.of(kind, role) for name, kind, role in required}
        yield (
            "nulls",
            {
                name: None if not isinstance(kind, GraphQLNonNull) else good.of(kind, role)
                for name, kind, role, _ in definitions
            },
        )
    if required:
        yield "missing", {}
    yield "unusable", {name: bad.of(kind, role) for name, kind, role, _ in definitions}
    yield "invalid", {name: _wrong(kind) for name, kind, _, _ in definitions}


def _roles(document: DocumentNode) -> dict[str, str]:
    """Each variable by the argument or input field it is passed to (``ids: [$id]`` makes
    ``$id`` an ``id``)."""
    roles: dict[str, str] = {}

    def note(name: str, value: ValueNode) -> None:
        if isinstance(value, VariableNode):
            roles.setdefault(value.name.value, name)
        elif isinstance(value, ListValueNode):
            for item in value.values:
                note(name.removesuffix("s"), item)

    class Uses(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: object) -> None:
            note(node.name.value, node.value)

        def enter_object_field(self, node: ObjectFieldNode, *_: object) -> None:
            note(node.name.value, node.value)

    visit(document, Uses())
    return roles


class _Values:
    """A value for a variable of a type that feeds a role: one the resolvers take (usable), or
    one of the right type they refuse."""

    def __init__(self, samples: Samples, *, usable: bool) -> None:
        self.samples = samples
        self.usable = usable

    def of(self, kind: GraphQLInputType, role: str) -> Any:
        if isinstance(kind, GraphQLNonNull):
            return self.of(kind.of_type, role)
        if isinstance(kind, GraphQLList):
            if not self.usable:
                return []
            if role in ("ids", "id"):
                return ["p2p|carol", global_id("team|1001"), "p2p|nobody"]
            if isinstance(kind.of_type, GraphQLNonNull | GraphQLEnumType):
                inner = kind.of_type
                named = inner.of_type if isinstance(inner, GraphQLNonNull) else inner
                if isinstance(named, GraphQLEnumType):
                    return list(named.values)[1:]
            return [self.of(kind.of_type, role)]
        if isinstance(kind, GraphQLInputObjectType):
            return {name: self.of(field.type, name) for name, field in kind.fields.items()}
        if isinstance(kind, GraphQLEnumType):
            return list(kind.values)[1 if self.usable else 0]
        assert isinstance(kind, GraphQLScalarType), kind
        return self._scalar(kind.name, role)

    def _scalar(self, scalar: str, role: str) -> Any:
        usable = self.usable
        if role == "after":
            return self.samples.cursor if usable else "djEuZm9yZ2Vk"
        if role in ("since", "token"):
            return self.samples.token if usable else "c3YxLmZvcmdlZA"
        if role == "ext":
            return '{"muted":true}' if usable else "x" * 1025
        if role == "groupId":
            return self.samples.group if usable else "no-such-group"
        if role == "first":
            return 3 if usable else 0
        if role == "maxTimestamp":
            return T0 + 400 if usable else -1
        if scalar == "ID":
            return global_id("p2p|bob") if usable else "p2p|nobody"
        return {
            "String": "x" if usable else "",
            "Int": 3 if usable else -1,
            "Boolean": usable,
            "DateTime": "2026-09-21T14:13:20.100Z" if usable else "1969-12-31T23:59:59.999Z",
            "JSON": {"k": [1, "two"]} if usable else None,
        }.get(scalar)


def _wrong(kind: GraphQLInputType) -> Any:
    """A value no coercion to ``kind`` accepts."""
    if isinstance(kind, GraphQLNonNull):
        return _wrong(kind.of_type)
    if isinstance(kind, GraphQLList):
        return [_wrong(kind.of_type)]
    if isinstance(kind, GraphQLInputObjectType):
        return {"noSuchField": 1}
    if isinstance(kind, GraphQLEnumType):
        return "NO_SUCH_VALUE"
    return {"Int": "three", "Boolean": "yes", "DateTime": "yesterday"}.get(kind.name, {"an": 1})


def deep_json(depth: int) -> str:
    """JSON text ``depth`` levels deep, arrays and objects alternating."""
    opening = "".join("[" if level % 2 == 0 else '{"a":' for level in range(depth))
    closing = "".join("]" if level % 2 == 0 else "}" for level in reversed(range(depth)))
    return opening + "0" + closing
