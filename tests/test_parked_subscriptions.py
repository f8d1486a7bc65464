"""An idle subscription whose events go out from the fan-out waits parked, without a task
(schema/parking.py): what the fan-out cannot send runs the operation again, from where it
stood, spending no token; completing the operation or closing the socket ends it for good."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette

from gateway.live import ChangeNotifier, Watcher
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.helpers import T0, bearer_token, send, until, waiting
from tests.ws import LEGACY_PROTOCOL, GraphQLSocket, metrics_of, served

WAIT = 10
QUERY = (
    "subscription { sessionEvents { ... on SessionUpserted { session { lastMessage { serverId } "
    "} } } }"
)


def watchers(store: SessionStore, account: str) -> list[Watcher]:
    listeners = store._listeners  # type: ignore[attr-defined]
    notifiers = [n for n in listeners if isinstance(n, ChangeNotifier)]
    return [w for n in notifiers for w in n._watchers.get(account, ())]


async def parked(store: SessionStore, account: str) -> Watcher:
    await until(lambda: any(w.task is None and w.parked for w in watchers(store, account)))
    [watcher] = watchers(store, account)
    return watcher


async def last_message(socket: GraphQLSocket) -> str:
    data = await socket.next_data(WAIT)
    server_id: str = data["sessionEvents"]["session"]["lastMessage"]["serverId"]
    return server_id


async def test_an_idle_subscription_parks_without_a_task_and_runs_again_for_what_it_must_read(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    app: Starlette = create_app(settings, store=store, clock=clock)
    async with served(app) as url:
        socket = await GraphQLSocket.connect(url, bearer_token("alice"))
        await socket.subscribe(QUERY)
        watcher = await parked(store, "alice")
        # Stored without the webhook: the message is not at hand, the fan-out cannot show it.
        await send(store, "m1", "bob", "alice", T0 + 1)
        assert await last_message(socket) == "m1"
        assert await parked(store, "alice") is watcher  # the same subscription, parked again
        await send(store, "m2", "bob", "alice", T0 + 2)
        assert await last_message(socket) == "m2"
        await socket.close()


async def test_completing_a_parked_subscription_ends_it(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    app: Starlette = create_app(settings, store=store, clock=clock)
    async with served(app) as url:
        socket = await GraphQLSocket.connect(url, bearer_token("alice"))
        first = await socket.subscribe(QUERY)
        await parked(store, "alice")
        await socket.send({"id": first, "type": "complete"})
        await until(lambda: not watchers(store, "alice"))
        await socket.subscribe(QUERY)  # the id is free again, and the socket still serves
        await parked(store, "alice")
        await send(store, "m1", "bob", "alice", T0 + 1)
        assert await last_message(socket) == "m1"
        await socket.close()
        await until(lambda: not watchers(store, "alice"))


async def test_a_parked_subscription_run_again_spends_no_token_and_is_observed_once(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    # One operation, however many runs: its first run spent the token, and is timed in the
    # metrics when it parks; the runs that resume it are neither.
    limited = settings.model_copy(
        update={"rate_limit_reads_per_minute": 1, "rate_limit_reads_burst": 1}
    )
    app: Starlette = create_app(limited, store=store, clock=clock)
    async with served(app) as url:
        socket = await GraphQLSocket.connect(url, bearer_token("alice"))
        await socket.subscribe(QUERY)  # the one token
        await parked(store, "alice")
        for n in range(3):
            await send(store, f"m{n}", "bob", "alice", T0 + n)
            assert await last_message(socket) == f"m{n}"
        await parked(store, "alice")
        metrics = await metrics_of(url)
        await socket.close()
    series = 'gateway_graphql_operation_seconds_count{operation="anonymous",type="subscription"}'
    assert f"{series} 1.0" in metrics


async def test_on_the_legacy_protocol_a_subscription_waits_in_its_task(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    app: Starlette = create_app(settings, store=store, clock=clock)
    async with served(app) as url:
        socket = await GraphQLSocket.connect(url, bearer_token("alice"), protocol=LEGACY_PROTOCOL)
        await socket.subscribe(QUERY)
        await until(lambda: waiting(store, "alice"))
        [watcher] = watchers(store, "alice")
        assert isinstance(watcher.task, asyncio.Task)
        await send(store, "m1", "bob", "alice", T0 + 1)
        assert await last_message(socket) == "m1"
        await socket.close()
