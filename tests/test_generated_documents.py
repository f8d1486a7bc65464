"""The fast path answers generated documents exactly as graphql-core alone does (issue 25).

Documents come from tests/document_generator.py, one per seed (a failure names its seed, its
document and its variables): queries over every field of the Query root with aliases, merged
duplicates, fragments, directives and arguments at every edge. As tests/test_differential.py
does for the documents the repository writes down, each is served by the real HTTP app on a
seeded store, by the fast path and by the same schema built with ``planned=False``: with each of
its variable sets as alice, with the first without a token, and without an operation name when
it holds two operations. The fast path answers each request twice (the second time, compiled)
and both answers must have the reference's status, media type and bytes.

Generated subscriptions are rendered over the seeded store's real events (and unread counts) by
their compiled selection (``gateway.fastpath.compile_operation(...).render``) and executed by
graphql-core (``execute_subscription_event``): the compiled render may refuse (it raises, and
graphql-core answers the event), but what it renders is graphql-core's data, byte for byte.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import pytest_asyncio
from graphql import (
    Executor,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    execute_subscription_event,
    parse,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from gateway.domain.pages import Filters
from gateway.domain.sync import SyncPosition
from gateway.fastpath import CompiledSubscription, compile_operation
from gateway.live import Deleted, GroupDeleted, GroupUpserted, Upserted, events_of
from gateway.schema import build_schema
from gateway.schema.sync import graphql_event
from gateway.store import SessionStore
from tests.conftest import module_database
from tests.differential import Endpoint, Samples, same, seeded
from tests.document_generator import Generated, generate

SCHEMA = build_schema(planned=False)._schema
# Seeds of the generated queries; PostgreSQL runs fewer (its answers differ from SQLite's only
# where the store does).
QUERIES = {"sqlite": range(300), "postgres": range(60)}
SUBSCRIPTIONS = range(200)


@dataclass
class Served:
    fast: Endpoint
    reference: Endpoint
    samples: Samples
    events: list[Any]  # root values of sessionEvents: the seeded feed's events, as the schema's
    counts: list[int]  # root values of unreadCount
    concurrent_reads: bool  # PostgreSQL: see differential.same


@pytest.fixture(scope="module")
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with module_database(request.param, tmp_path_factory, "generated") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(database: str) -> AsyncIterator[Served]:
    async with seeded(database) as (fast, reference, samples):
        events, counts = await _roots(reference.store)
        concurrent = database.startswith("postgresql://")
        yield Served(fast, reference, samples, events, counts, concurrent)


async def _roots(store: SessionStore) -> tuple[list[Any], list[int]]:
    """Every event of alice's feed, with its last messages and without (the fan-out of a
    selection without ``lastMessage`` reads none), and events of each shape with a null in
    one field (``_nulled``); unread counts: hers, and one past what an Int holds. The compiled
    render must refuse what graphql-core reports as an error."""
    changes = await store.changes_since("alice", SyncPosition(0), 1000)
    assert not changes.has_more
    events = events_of(changes.in_feed_order())
    kinds = {type(e) for e in events}
    assert kinds == {Upserted, Deleted, GroupUpserted, GroupDeleted}, kinds
    refs = [e.session.last_message_ref for e in events if isinstance(e, Upserted)]
    messages = await store.get_messages([ref for ref in refs if ref is not None])
    assert messages
    real = [graphql_event(e, m) for m in (messages, None) for e in events]
    shapes = {_shape(event): event for event in real}
    broken = [copy for event in shapes.values() for copy in _nulled(event)]
    counts = [await store.unread_count("alice", Filters()),
              await store.unread_count("alice", Filters(muted=None)), 0, 2**31]  # fmt: skip
    return real + broken, counts


def _shape(value: Any) -> tuple[object, ...]:
    """An object's class and which of its fields are null, below it too."""
    if not dataclasses.is_dataclass(value):
        return (value is None,)
    return (type(value), *(_shape(inner) for inner in _fields(value).values()))


def _nulled(value: Any) -> Iterator[Any]:
    """Copies of ``value`` (an object of the schema) with one field null, or one item of a
    list, at any depth."""
    kind, fields = _declared(type(value)), _fields(value)
    for name, inner in fields.items():
        if inner is None:
            continue
        yield kind(**{**fields, name: None})
        if isinstance(inner, list) and inner:
            yield kind(**{**fields, name: [None, *inner[1:]]})
        if dataclasses.is_dataclass(inner):
            for copy in _nulled(inner):
                yield kind(**{**fields, name: copy})


def _fields(value: Any) -> dict[str, Any]:
    fields = dataclasses.fields(_declared(type(value)))
    return {f.name: getattr(value, f.name) for f in fields if f.init}


def _declared(kind: type) -> type:
    """The class Strawberry declared: a view of a domain record (``SessionOf``) is a subclass
    with an ``__init__`` of its own."""
    return next(c for c in kind.__mro__ if "__dataclass_fields__" in vars(c))


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("seed", QUERIES["sqlite"])
async def test_a_generated_query_is_answered_as_graphql_core_answers_it(
    served: Served, seed: int
) -> None:
    await _answered_alike(served, seed)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
@pytest.mark.parametrize("seed", QUERIES["postgres"])
async def test_a_generated_query_is_answered_as_graphql_core_answers_it_on_postgresql(
    served: Served, seed: int
) -> None:
    await _answered_alike(served, seed)


async def _answered_alike(served: Served, seed: int) -> None:
    generated = generate(SCHEMA, seed, served.samples)
    for what, body, viewer in _requests(generated):
        await same(served.fast, served.reference, body, viewer,
                   f"seed {seed}, {what}\n{generated.text}\n",
                   errors_in_any_order=served.concurrent_reads)  # fmt: skip


def _requests(generated: Generated) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Each request to make of a generated document: what it is, its body, whether alice
    sends it."""
    for label, variables in generated.variable_sets:
        body = {"query": generated.text, "variables": variables,
                "operationName": generated.operation_name}  # fmt: skip
        yield f"variables {label} {variables}, as alice", body, True
    label, variables = generated.variable_sets[0]
    body = {"query": generated.text, "variables": variables,
            "operationName": generated.operation_name}  # fmt: skip
    yield f"variables {label} {variables}, without a token", body, False
    if generated.operations > 1:
        yield "no operation name", {"query": generated.text}, True


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("seed", SUBSCRIPTIONS)
async def test_a_generated_subscription_renders_events_as_graphql_core_completes_them(
    served: Served, seed: int
) -> None:
    generated = generate(SCHEMA, seed, served.samples, subscription=True)
    document = parse(generated.text)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}  # fmt: skip
    unread = _root_field(operation).name.value == "unreadCount"
    roots = served.counts if unread else served.events
    for label, variables in generated.variable_sets:
        what = f"seed {seed}, variables {label} {variables}\n{generated.text}\n"
        coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), variables)
        if isinstance(coerced, list) or not _subscribes(operation, coerced):
            continue  # refused before any event, on either path
        compiled = _compiled(operation, fragments, coerced.coerced)
        if compiled is None:
            continue  # every event goes to graphql-core
        executor = Executor.build(SCHEMA, document, raw_variable_values=variables)
        assert not isinstance(executor, list), what
        for root in roots:
            mine = _rendered(compiled, root)
            if mine is None:
                continue  # refused: graphql-core answers this event
            general = execute_subscription_event(executor.build_per_event_executor(root))
            if inspect.isawaitable(general):
                general = await general
            assert general.errors is None, f"{what}rendered {mine!r}, but graphql-core failed"
            assert mine == orjson.dumps(general.data), f"{what}event {root}"


def _compiled(
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> CompiledSubscription | None:
    """The operation compiled for these variables, or None: not compiled, or compiling failed
    (frames.renderer_for logs that)."""
    try:
        compiled = compile_operation(SCHEMA, operation, fragments, variables)
    except Exception:
        return None
    assert compiled is None or isinstance(compiled, CompiledSubscription)
    return compiled


def _rendered(compiled: CompiledSubscription, root: object) -> bytes | None:
    """The compiled render of ``root`` as JSON, or None when it refuses."""
    try:
        return orjson.dumps(compiled.render(root))
    except Exception:
        return None


def _root_field(operation: OperationDefinitionNode) -> FieldNode:
    [root] = operation.selection_set.selections
    assert isinstance(root, FieldNode)
    return root


def _subscribes(operation: OperationDefinitionNode, variables: VariableValues) -> bool:
    """Whether the root field's arguments coerce: if not, the subscription is refused before
    its source stream (and any event) exists."""
    node = _root_field(operation)
    assert SCHEMA.subscription_type is not None
    try:
        get_argument_values(SCHEMA.subscription_type.fields[node.name.value], node, variables)
    except GraphQLError:
        return False
    return True
