"""Subscriptions that send their own frames (schema/frames.py) send exactly what Strawberry would:
every subscription document of clients/, docs/, the tests and the bench, and documents made to
exercise aliases, fragments, directives and __typename, get byte-identical messages from a gateway
that compiles their events and from one that sends every event through Strawberry, on both
subprotocols, for every kind of change."""

from __future__ import annotations

import ast
import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.language import Visitor
from starlette.applications import Starlette

from gateway.domain.keys import SessionKey, SessionType
from gateway.live import Event
from gateway.schema import build_schema, frames
from gateway.schema.frames import EventRenderer, FrameSink
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from gateway.web.graphql import GraphQLView
from tests.conftest import Clock
from tests.helpers import bearer_token, cc_message, cc_recall, p2p, post_signed, until
from tests.ws import LEGACY_PROTOCOL, PROTOCOL, GraphQLSocket, served

ROOT = Path(__file__).parent.parent
NOT_COMPILED = "not compiled: the general path answers"
SCHEMA = build_schema()._schema

MADE = {
    "aliases and merged fields": """subscription($since: String) {
      events: sessionEvents(since: $since) {
        kind: __typename
        ... on SessionUpserted { token: syncToken session { key k2: key unreadCount } }
        ... on SessionUpserted { session { key lastMessage { text t2: text from } } }
        ... on SessionsDeleted { keys gone: ids }
      } }""",
    "named fragments, spread twice and nested": """
      subscription Live($since: String) { sessionEvents(since: $since) { ...E ...E } }
      fragment E on SessionEvent { __typename ...U ... on SessionsDeleted { ...D } }
      fragment U on SessionUpserted { syncToken session { ...S ...Node } }
      fragment D on SessionsDeleted { ids keys syncToken }
      fragment S on Session { id key type target updateTime serverExt lastMessageKind
        unreadCount lastReadTime pinnedAt pinned __typename
        lastMessage { __typename serverId clientId from type text attachment ext time }
        lastRevokeNotification { __typename messageServerId operator time postscript } }
      fragment Node on Node { id __typename }""",
    "skip and include": """subscription($since: String, $yes: Boolean!, $no: Boolean!) {
      sessionEvents(since: $since) {
        __typename @include(if: $yes)
        ... on SessionUpserted @skip(if: $no) { syncToken @skip(if: $yes)
          session { key @include(if: $no) unreadCount @include(if: true) pinned @skip(if: false)
                    lastMessage @include(if: $yes) { text } } }
        ... @include(if: $no) { __typename }
        ...D @include(if: $yes)
      } }
      fragment D on SessionsDeleted { keys }""",
    "interface fragment": """subscription($since: String) { sessionEvents(since: $since) {
      ... on SessionUpserted { session { ... on Node { id } ... on Session { key } } } } }""",
}


def documents() -> dict[str, str]:
    """Every subscription document in the repository (a GraphQL document of its own, with the
    fragments it uses) that is valid against the schema, and the made ones."""
    found: dict[str, str] = {}
    fragments: dict[str, FragmentDefinitionNode] = {}
    operations: dict[str, OperationDefinitionNode] = {}
    for source, text in _graphql_texts():
        try:
            document = parse(text)
        except GraphQLSyntaxError:  # a refused document of the tests
            continue
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                fragments[definition.name.value] = definition
            elif (
                isinstance(definition, OperationDefinitionNode)
                and definition.operation is OperationType.SUBSCRIPTION
                and _root_field(definition) == "sessionEvents"  # the one framed subscription
            ):
                operations[f"{source}:{len(operations)}"] = definition
    for name, operation in operations.items():
        text = "\n".join(print_ast(d) for d in [operation, *_used(operation, fragments)])
        if not validate(SCHEMA, parse(text)):
            found[name] = text
    return {**found, **MADE}


def _root_field(operation: OperationDefinitionNode) -> str | None:
    [first, *_] = operation.selection_set.selections
    return first.name.value if isinstance(first, FieldNode) else None


def _graphql_texts() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "clients").rglob("*.graphql")):
        if "node_modules" not in path.parts:
            yield str(path.relative_to(ROOT)), path.read_text()
    for path in sorted((ROOT / "clients" / "relay").glob("*.ts")):
        for block in re.findall(r"graphql`(.*?)`", path.read_text(), re.S):
            # Relay's own directives (@deleteRecord, @connection...) never reach the server.
            yield str(path.relative_to(ROOT)), re.sub(r"@(deleteRecord|connection|refetchable|"
                                                      r"argumentDefinitions|arguments)\b(\([^)]*\))?",
                                                      "", block)  # fmt: skip
    for path in sorted((ROOT / "docs").rglob("*.md")):
        for block in re.findall(r"```graphql\n(.*?)```", path.read_text(), re.S):
            yield str(path.relative_to(ROOT)), block
    for path in sorted([*(ROOT / "tests").glob("*.py"), *(ROOT / "bench").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and value.lstrip().startswith("subscription"):
                yield str(path.relative_to(ROOT)), value


def _used(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> list[FragmentDefinitionNode]:
    used: dict[str, FragmentDefinitionNode] = {}
    names: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
            names.append(node.name.value)

    pending: list[Any] = [operation]
    while pending:
        visit(pending.pop(), Spreads())
        for name in names:
            if name not in used and name in fragments:
                used[name] = fragments[name]
                pending.append(fragments[name])
        names.clear()
    return list(used.values())


def test_the_corpus_holds_the_repositorys_subscription_documents() -> None:
    sources = {name.split(":")[0] for name in documents()}
    assert {"clients/operations/subscription.graphql", "clients/relay/SessionEvents.ts",
            "docs/api.md", "tests/test_live_updates.py", "bench/loadgen.py"} <= sources  # fmt: skip


@dataclass
class Gateway:
    app: Starlette
    url: str


def without_frames(app: Starlette) -> Starlette:
    """The app, sending every subscription event through Strawberry."""
    for route in app.routes:
        endpoint = getattr(route, "app", None) or getattr(route, "endpoint", None)
        if isinstance(endpoint, GraphQLView):
            endpoint.frames = False
            return app
    raise AssertionError("no GraphQL view")


@asynccontextmanager
async def gateways(
    settings: Settings, store: SessionStore, clock: Clock
) -> AsyncIterator[tuple[Gateway, Gateway]]:
    settings = settings.model_copy(update={"ws_max_subscriptions_per_connection": 50})
    framed = create_app(settings, store=store, clock=clock)
    general = without_frames(create_app(settings, store=store, clock=clock))
    async with served(framed) as framed_url, served(general) as general_url:
        yield Gateway(framed, framed_url), Gateway(general, general_url)


def variable_sets(text: str, since: str) -> list[dict[str, Any]]:
    if "$yes" in text:
        return [{"since": since, "yes": yes, "no": not yes} for yes in (True, False)]
    return [{"since": since}] if "$since" in text else [{}]


async def changes(framed: Gateway, store: SessionStore, clock: Clock) -> int:
    """Every kind of change to alice's list, through the framed gateway's webhook (which hands
    over the messages it stores) and through the store (whose messages are read); the number
    of events each subscription gets."""
    now = clock.now
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=framed.app), base_url="http://gw"
    ) as http:

        async def cc(body: dict[str, Any]) -> None:
            response = await post_signed(http, "/nim/cc", body, clock.now)
            assert response.status_code == 200, response.text

        picture = {**cc_message("m-pic", "bob", "alice", now), "msgType": "PICTURE",
                   "attach": '{"url": "https://x/y.png", "size": [1, 2]}', "ext": "not json",
                   "body": None}  # fmt: skip
        await cc({k: v for k, v in picture.items() if v is not None})
        members = '["alice", "bob", "carol"]'
        ext = '{"deep": {"er": [1, null, "x"]}}'
        await cc(cc_message("m-team", "carol", "t1", now + 1, conv="TEAM")
                 | {"tMembers": members, "ext": ext})  # fmt: skip
        await cc(cc_recall("m-pic", "bob", "alice", now + 2, note="oops", sent=now))
    await store.update_ext("alice", p2p("dave"), '{"mine": 1}', now + 3)
    await store.set_pinned("alice", SessionKey(SessionType.TEAM, "t1"), True, now + 4)
    await store.mark_read("alice", [SessionKey(SessionType.TEAM, "t1")], now + 5)
    await store.delete_sessions("alice", [p2p("bob"), p2p("dave")], now + 6)
    return 7  # the last two deletions are one commit: one event


@pytest.fixture
def direct_sends(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every payload the notifier's fan-out sent as a frame, at once (live.Watcher.take)."""
    sent: list[bytes] = []
    send_now = FrameSink.send_now

    def counted(self: FrameSink, payloads: list[bytes]) -> bool:
        done = send_now(self, payloads)
        if done:
            sent.extend(payloads)
        return done

    monkeypatch.setattr(FrameSink, "send_now", counted)
    return sent


@pytest.fixture
def framed_sends(monkeypatch: pytest.MonkeyPatch, direct_sends: list[bytes]) -> list[bytes]:
    """Every payload a subscription sent as a frame of its own (from its task, or at once)."""
    sent: list[bytes] = direct_sends
    send = FrameSink.send

    async def counted(self: FrameSink, payload: bytes) -> None:
        sent.append(payload)
        await send(self, payload)

    monkeypatch.setattr(FrameSink, "send", counted)
    return sent


@pytest.mark.parametrize("protocol", [PROTOCOL, LEGACY_PROTOCOL])
async def test_framed_events_are_byte_identical_to_strawberrys(
    settings: Settings,
    store: SessionStore,
    clock: Clock,
    protocol: str,
    framed_sends: list[bytes],
    direct_sends: list[bytes],
) -> None:
    directly_before = len(direct_sends)
    await assert_identical(settings, store, clock, protocol, documents())
    assert len(framed_sends) == 8 * sum(len(variable_sets(t, "")) for t in documents().values())
    assert len(direct_sends) > directly_before  # the fan-out's own frames were compared too


async def test_events_the_compiled_selection_leaves_go_through_strawberry_in_order(
    settings: Settings,
    store: SessionStore,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    framed_sends: list[bytes],
) -> None:
    payload = EventRenderer.payload

    def every_other(self: EventRenderer, event: Event, messages: Any) -> bytes | None:
        return None if event.position.version % 2 else payload(self, event, messages)

    monkeypatch.setattr(EventRenderer, "payload", every_other)
    document = MADE["named fragments, spread twice and nested"]
    await assert_identical(settings, store, clock, PROTOCOL, {"made": document})
    assert 0 < len(framed_sends) < 8


async def test_a_subscription_the_compiler_fails_on_goes_through_strawberry(
    settings: Settings,
    store: SessionStore,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    framed_sends: list[bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As for queries: a failure to compile (a bug, or a changed internal) costs speed, not events.
    def failing(*args: object, **kwargs: object) -> object:
        raise AttributeError("'GraphQLResolveInfo' object has no attribute 'fragments'")

    monkeypatch.setattr(frames, "compile_operation", failing)
    frames._renderers.clear()
    document = MADE["named fragments, spread twice and nested"]
    with caplog.at_level(logging.WARNING, "gateway.schema"):
        await assert_identical(settings, store, clock, PROTOCOL, {"made": document})
    assert framed_sends == []
    assert any("could not compile a subscription" in r.getMessage() for r in caplog.records)


async def assert_identical(
    settings: Settings, store: SessionStore, clock: Clock, protocol: str, corpus: dict[str, str]
) -> None:
    since = (await store.sync_position("alice")).token()
    async with gateways(settings, store, clock) as (framed, general):
        sockets = []
        for gateway in (framed, general):
            socket = await GraphQLSocket.connect(gateway.url, bearer_token("alice"),
                                                 protocol=protocol)  # fmt: skip
            subscribed = []
            for name, text in corpus.items():
                for variables in variable_sets(text, since):
                    subscribed.append((name, variables, await socket.subscribe(text, **variables)))
            sockets.append((socket, subscribed))
        # Changes come once every subscription is live (those without `since` start from now).
        for gateway, (_, subscribed) in zip((framed, general), sockets, strict=True):
            await until(partial(open_subscriptions, gateway, len(subscribed)), 10)
        await store.update_ext("alice", p2p("warm-up"), "", clock.now)
        for socket, subscribed in sockets:
            await _frames(socket, len(subscribed))
        events = await changes(framed, store, clock)
        received = [(await _frames(socket, events * len(subscribed)), subscribed)
                    for socket, subscribed in sockets]  # fmt: skip
        for socket, _ in sockets:
            await socket.close()
    (framed_frames, subscribed), (general_frames, _) = received
    for name, variables, operation in subscribed:
        assert framed_frames[operation] == general_frames[operation], (name, variables)
        assert len(framed_frames[operation]) == events


async def open_subscriptions(gateway: Gateway, expected: int) -> bool:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway.app), base_url="http://gw"
    ) as http:
        metrics = (await http.get("/metrics")).text
    return f"gateway_subscriptions_open {float(expected)}" in metrics


async def _frames(socket: GraphQLSocket, count: int) -> dict[str, list[str]]:
    """The next ``count`` event frames, as sent (their text), by operation id."""
    frames: dict[str, list[str]] = {}
    for _ in range(count):
        text, operation = await asyncio.wait_for(_raw_frame(socket), 10)
        frames.setdefault(operation, []).append(text)
    return frames


async def _raw_frame(socket: GraphQLSocket) -> tuple[str, str]:
    """The next event frame as sent (its text) and its operation id."""
    while True:
        raw = await socket.connection.recv()
        assert isinstance(raw, str)
        message = orjson.loads(raw)
        if message.get("type") in ("next", "data"):
            return raw, message["id"]
        if message.get("type") == "ping":
            await socket.send({"type": "pong"})
        elif message.get("type") not in ("pong", "ka"):
            raise AssertionError(f"unexpected message {message}")


def test_documents_of_plain_data_compile() -> None:
    from graphql.execution.values import get_variable_values

    from gateway.fastpath import compile_operation

    for name, text in documents().items():
        document: DocumentNode = parse(text)
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        fragments = {d.name.value: d for d in document.definitions
                     if isinstance(d, FragmentDefinitionNode)}  # fmt: skip
        raw = {"since": None, "yes": True, "no": False}
        names = {v.variable.name.value for v in operation.variable_definitions or ()}
        variables = get_variable_values(SCHEMA, operation.variable_definitions or (),
                                        {k: v for k, v in raw.items() if k in names})  # fmt: skip
        assert not isinstance(variables, list), (name, variables)
        compiled = compile_operation(SCHEMA, operation, fragments, variables.coerced)
        assert compiled is not None, name


def _compiled_and_general(text: str, root: object) -> tuple[Any, Any]:
    """What the compiled selection makes of ``root`` (or NOT_COMPILED), and graphql-core's
    result for it as Strawberry executes a subscription event."""
    from graphql import Executor, execute_subscription_event

    from gateway.fastpath import CompiledSubscription, compile_operation

    document = parse(text)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    compiled = compile_operation(SCHEMA, operation, {}, {})
    assert isinstance(compiled, CompiledSubscription)
    try:
        mine: Any = compiled.render(root)
    except Exception:  # Deopt, or the error graphql-core reports: the general path answers
        mine = NOT_COMPILED
    executor = Executor.build(SCHEMA, document)
    assert not isinstance(executor, list)
    result = execute_subscription_event(executor.build_per_event_executor(root))
    return mine, result


def test_a_value_graphql_core_reports_as_an_error_is_left_to_it() -> None:
    from gateway.schema.sync import SessionsDeleted, SessionUpserted

    text = "subscription { sessionEvents { ... on SessionsDeleted { keys syncToken } } }"
    good = SessionsDeleted(ids=[], keys=["p2p|bob"], sync_token="t")
    mine, general = _compiled_and_general(text, good)
    assert (mine, general.errors) == (general.data, None)

    for bad in (SessionsDeleted(ids=[], keys=[None], sync_token="t"),  # type: ignore[list-item]
                SessionsDeleted(ids=[], keys=["k"], sync_token=None),  # type: ignore[arg-type]
                SessionUpserted(session=None, sync_token="t")):  # type: ignore[arg-type]  # fmt: skip
        mine, general = _compiled_and_general(
            "subscription { sessionEvents { ... on SessionsDeleted { keys syncToken } "
            "... on SessionUpserted { session { key } } } }",
            bad,
        )
        assert mine is NOT_COMPILED
        assert general.errors


def test_an_object_of_another_class_is_left_to_graphql_core() -> None:
    mine, general = _compiled_and_general(
        "subscription { sessionEvents { __typename } }", {"not": "an event"}
    )
    assert mine is NOT_COMPILED
    assert general.errors
