"""The live feed inside one process: local commits hand their changes to subscribers, so a
fan-out to many subscribers reads nothing; a commit elsewhere makes them read the feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from gateway.domain.sessions import Delivery
from gateway.domain.sync import SyncPosition
from gateway.live import ChangeNotifier, Event, Upserted, session_events
from gateway.store import SessionStore
from tests.helpers import T0, p2p, send, text_message, until


def feed_reads(statements: list[str]) -> int:
    return len([s for s in statements if "version >" in s or "(version, key) >" in s])


async def no_overflow() -> None:
    raise AssertionError("unexpected overflow")


def stream(
    store: SessionStore, notifier: ChangeNotifier, owner: str, start: SyncPosition
) -> AsyncGenerator[Event, None]:
    events = session_events(store, notifier, owner, start, capacity=10, on_overflow=no_overflow)
    assert isinstance(events, AsyncGenerator)
    return events


async def test_local_commits_reach_subscribers_without_reading_the_feed(
    store: SessionStore, statements: list[str]
) -> None:
    notifier = ChangeNotifier()
    store.add_listener(notifier)
    owners = [f"m{n}" for n in range(20)]
    streams = [stream(store, notifier, owner, await store.sync_position(owner)) for owner in owners]
    statements.clear()
    pending = [asyncio.ensure_future(anext(s)) for s in streams]
    await until(lambda: feed_reads(statements) >= len(owners))  # each read the feed once

    statements.clear()
    message = text_message("t1", "boss", T0 + 5)
    await store.record_message(message, [Delivery(owner, p2p("boss")) for owner in owners])
    events = await asyncio.wait_for(asyncio.gather(*pending), 5)

    assert [e.session.last_message_id for e in events if isinstance(e, Upserted)] == ["t1"] * 20
    assert feed_reads(statements) == 0
    for s in streams:
        await s.aclose()


async def test_a_wake_without_changes_reads_the_feed(
    store: SessionStore, statements: list[str]
) -> None:
    notifier = ChangeNotifier()  # not told by the store: like a commit on another replica
    alice = stream(store, notifier, "alice", await store.sync_position("alice"))
    statements.clear()
    pending = asyncio.ensure_future(anext(alice))
    await until(lambda: feed_reads(statements) >= 1)

    await send(store, "m1", "bob", "alice", T0)
    notifier.notify(frozenset({"alice"}))
    event = await asyncio.wait_for(pending, 5)
    assert isinstance(event, Upserted)
    assert event.session.last_message_id == "m1"
    await alice.aclose()
