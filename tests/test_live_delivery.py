"""Live events are the change feed: in its order, each change once, however a commit reaches a
subscription (handed over by a local commit, read from the feed, or both when a commit lands
while the subscription reads)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection
from typing import Any, cast

import pytest
from starlette.applications import Starlette

from gateway.domain.sync import ChangeSet, SyncPosition
from gateway.live import ChangeNotifier, Event, Upserted, session_events
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.helpers import T0, bearer_token, p2p, send
from tests.ws import GraphQLSocket, served

PEERS = ["dave", "bob", "carol"]  # sent in this order; the feed orders one commit by key
FEED_ORDER = ["p2p|bob", "p2p|carol", "p2p|dave"]
WAIT = 10  # seconds: every wait fails rather than hangs


async def no_overflow() -> None:
    raise AssertionError("unexpected overflow")


def stream(
    store: SessionStore, notifier: ChangeNotifier, since: SyncPosition
) -> AsyncGenerator[Event, None]:
    events = session_events(store, notifier, "alice", since, capacity=50, on_overflow=no_overflow)
    assert isinstance(events, AsyncGenerator)
    return events


async def next_event(events: AsyncGenerator[Event, None]) -> Upserted:
    event = await asyncio.wait_for(anext(events), WAIT)
    assert isinstance(event, Upserted), event
    return event


async def unread_sessions(store: SessionStore) -> SyncPosition:
    """Alice has a session with each peer; the position after those messages."""
    for n, peer in enumerate(PEERS):
        await send(store, f"m-{peer}", peer, "alice", T0 + n)
    return await store.sync_position("alice")


async def mark_all_read_in_one_commit(store: SessionStore) -> None:
    await store.mark_read("alice", [p2p(peer) for peer in PEERS], T0 + 100)


async def a_later_change(store: SessionStore) -> None:
    """A change after everything else: the event after the last expected one must be this one,
    so a doubled or stray event before it shows."""
    await send(store, "m-last", "erin", "alice", T0 + 200)


def keys(events: list[Upserted]) -> list[str]:
    return [str(e.session.key) for e in events]


async def assert_one_commit_then_the_later_change(
    store: SessionStore, events: AsyncGenerator[Event, None], first: asyncio.Future[Event]
) -> None:
    marked = await upserts(events, first, len(FEED_ORDER))
    assert keys(marked) == FEED_ORDER
    assert [e.session.unread_count for e in marked] == [0, 0, 0]
    positions = [(e.position.version, e.position.key) for e in marked]
    assert len({version for version, _ in positions}) == 1  # one commit
    await a_later_change(store)
    assert keys([await next_event(events)]) == ["p2p|erin"]
    await events.aclose()


class Feed:
    """The store, with the subscription's feed reads observed: ``read`` is set once the first
    read returns (the subscription then waits for news). With ``pause_first_read``, that read
    waits, once started (``reading``), until the test sets ``go_on``: a commit made meanwhile both
    reaches the subscription as a hand-over and is in what the read returns."""

    def __init__(self, store: SessionStore, *, pause_first_read: bool = False) -> None:
        self._store = store
        self._pause = pause_first_read
        self.reading = asyncio.Event()
        self.go_on = asyncio.Event()
        self.read = asyncio.Event()

    async def changes_since(self, owner: str, since: SyncPosition, limit: int) -> ChangeSet:
        first = not self.reading.is_set()
        self.reading.set()
        if first and self._pause:
            await asyncio.wait_for(self.go_on.wait(), WAIT)
        changes = await self._store.changes_since(owner, since, limit)
        self.read.set()
        return changes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def started(
    feed: Feed, notifier: ChangeNotifier, since: SyncPosition
) -> tuple[AsyncGenerator[Event, None], asyncio.Future[Event]]:
    """A subscription whose first read is under way (or done, when not paused), and its first
    event to come."""
    events = stream(cast(SessionStore, feed), notifier, since)
    first = asyncio.ensure_future(anext(events))
    await asyncio.wait_for(feed.reading.wait(), WAIT)
    return events, first


async def upserts(
    events: AsyncGenerator[Event, None], first: asyncio.Future[Event], count: int
) -> list[Upserted]:
    received = [await asyncio.wait_for(first, WAIT)]
    received += [await next_event(events) for _ in range(count - 1)]
    assert all(isinstance(e, Upserted) for e in received), received
    return cast(list[Upserted], received)


async def test_a_local_commit_streams_its_sessions_in_feed_order_once(
    store: SessionStore,
) -> None:
    notifier = ChangeNotifier()
    store.add_listener(notifier)
    feed = Feed(store)
    events, first = await started(feed, notifier, await unread_sessions(store))
    await asyncio.wait_for(feed.read.wait(), WAIT)  # what follows is handed over, not read

    await mark_all_read_in_one_commit(store)
    await assert_one_commit_then_the_later_change(store, events, first)


async def test_a_commit_read_from_the_feed_streams_in_feed_order_once(
    store: SessionStore,
) -> None:
    notifier = ChangeNotifier()

    class WakeOnly:
        """Tells the notifier who changed, not what: as a commit on another replica does."""

        def notify(self, owners: frozenset[str], changes: object = None) -> None:
            notifier.notify(owners)

        def watched(self) -> Collection[str]:
            return notifier.watched()

    store.add_listener(WakeOnly())
    feed = Feed(store)
    events, first = await started(feed, notifier, await unread_sessions(store))
    await asyncio.wait_for(feed.read.wait(), WAIT)

    await mark_all_read_in_one_commit(store)
    await assert_one_commit_then_the_later_change(store, events, first)


@pytest.mark.parametrize("sessions", [1, 3])
async def test_a_commit_racing_the_first_feed_read_is_streamed_once(
    store: SessionStore, sessions: int
) -> None:
    notifier = ChangeNotifier()
    store.add_listener(notifier)
    feed = Feed(store, pause_first_read=True)
    events, first = await started(feed, notifier, await unread_sessions(store))

    peers = sorted(PEERS)[:sessions]
    await store.mark_read("alice", [p2p(peer) for peer in peers], T0 + 100)  # while it reads
    feed.go_on.set()

    marked = await upserts(events, first, sessions)
    assert keys(marked) == [f"p2p|{peer}" for peer in peers]
    await a_later_change(store)
    assert keys([await next_event(events)]) == ["p2p|erin"]
    await events.aclose()


async def test_a_cancelled_subscription_leaves_no_task_behind(store: SessionStore) -> None:
    notifier = ChangeNotifier()
    store.add_listener(notifier)
    before = asyncio.all_tasks()
    feed = Feed(store)
    _, waiting = await started(feed, notifier, await store.sync_position("alice"))
    await asyncio.wait_for(feed.read.wait(), WAIT)  # it waits for news
    waiting.cancel()  # as Strawberry cancels an operation the client completes
    with pytest.raises(asyncio.CancelledError):
        await waiting

    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    assert [repr(t) for t in left if not t.done()] == []


async def test_a_commit_over_the_socket_streams_tokens_in_feed_order(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    app: Starlette = create_app(settings, store=store, clock=clock)
    since = await unread_sessions(store)
    async with served(app) as url:
        socket = await GraphQLSocket.connect(url, bearer_token("alice"))
        await socket.subscribe(
            "subscription($since: String) { sessionEvents(since: $since) { "
            "... on SessionUpserted { syncToken session { key } } } }",
            since=since.token(),
        )
        await mark_all_read_in_one_commit(store)
        events = [(await socket.next_data(WAIT))["sessionEvents"] for _ in FEED_ORDER]
        await socket.close()
    assert [e["session"]["key"] for e in events] == FEED_ORDER
    tokens = [SyncPosition.parse(e["syncToken"]) for e in events]
    assert [(t.version, t.key) for t in tokens] == [(tokens[0].version, k) for k in FEED_ORDER]
