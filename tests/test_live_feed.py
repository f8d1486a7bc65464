"""The live feed inside one process: local commits hand their changes to subscribers, so a
fan-out to many subscribers reads nothing; a commit elsewhere makes them read the feed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Collection, Mapping

import pytest

from gateway.domain.sessions import Delivery
from gateway.domain.sync import Change, SyncPosition
from gateway.ingest import Ingestor
from gateway.live import ChangeNotifier, Event, Upserted, follow, session_events
from gateway.settings import Settings
from gateway.store import SessionStore, SqlStore
from tests.drivers import Unheard, driver_for
from tests.helpers import T0, cc_message, p2p, send, team, text_message, until, waiting


def feed_reads(statements: list[str]) -> int:
    """Reads of the sessions' feed (a read of the feed also reads its groups' changes)."""
    return len([s for s in statements if ("version >" in s or "(version, key) >" in s)
                and "session_groups" not in s])  # fmt: skip


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


class Recorder:
    """A listener that watches ``watching`` and keeps what each commit hands it."""

    def __init__(self, watching: Collection[str]) -> None:
        self.watching = watching
        self.owners: set[str] = set()
        self.changes: dict[str, list[Change]] = {}

    def notify(
        self, owners: frozenset[str], changes: Mapping[str, list[Change]] | None = None
    ) -> None:
        self.owners |= owners
        for owner, mine in (changes or {}).items():
            self.changes.setdefault(owner, []).extend(mine)

    def watched(self) -> Collection[str]:
        return self.watching


MEMBERS = [f"m{n:02}" for n in range(20)]


def team_message(listed: bool) -> dict[str, object]:
    body = cc_message("t1", MEMBERS[0], "crew", T0, conv="TEAM")
    if listed:  # NIM's tMembers: exactly they receive it
        body["tMembers"] = f"[{', '.join(MEMBERS)}]"
    return body


@pytest.mark.parametrize("listed", [False, True], ids=["cached members", "tMembers"])
async def test_a_team_message_hands_over_the_changes_of_watched_members_and_names_the_rest(
    store: SessionStore, listed: bool
) -> None:
    await store.set_team_members(team("crew"), MEMBERS, T0 - 1)
    recorder = Recorder(watching={"m03", "m17", "someone-else"})
    store.add_listener(recorder)

    await Ingestor(store).apply_json(team_message(listed))

    assert recorder.owners == set(MEMBERS)
    assert sorted(recorder.changes) == ["m03", "m17"]
    for owner in ("m03", "m17"):
        [change] = recorder.changes[owner]
        assert change.session is not None
        assert (change.key, change.session.last_message_id) == (team("crew"), "t1")
        assert change.version == (await store.sync_position(owner)).version


async def test_a_team_message_nobody_watches_still_names_every_member(store: SessionStore) -> None:
    await store.set_team_members(team("crew"), MEMBERS, T0 - 1)
    recorder = Recorder(watching=())
    store.add_listener(recorder)

    await Ingestor(store).apply_json(team_message(listed=False))

    assert (recorder.owners, recorder.changes) == (set(MEMBERS), {})


async def test_a_team_message_reaches_subscribed_members_without_reading_the_feed(
    store: SessionStore, statements: list[str]
) -> None:
    notifier = ChangeNotifier()
    store.add_listener(notifier)
    await store.set_team_members(team("crew"), MEMBERS, T0 - 1)
    subscribed = MEMBERS[::4]
    streams = [stream(store, notifier, m, await store.sync_position(m)) for m in subscribed]
    statements.clear()
    pending = [asyncio.ensure_future(anext(s)) for s in streams]
    await until(lambda: feed_reads(statements) >= len(subscribed))

    statements.clear()
    await Ingestor(store).apply_json(team_message(listed=False))
    events = await asyncio.wait_for(asyncio.gather(*pending), 5)

    assert [e.session.last_message_id for e in events if isinstance(e, Upserted)] == ["t1"] * 5
    assert feed_reads(statements) == 0
    for s in streams:
        await s.aclose()


@pytest.mark.parametrize("directly", [False, True], ids=["by-its-task", "directly"])
async def test_a_commit_elsewhere_not_heard_of_yet_is_not_skipped_by_a_later_local_one(
    store: SessionStore, settings: Settings, directly: bool
) -> None:
    # Another replica commits for an owner; before its notice comes, this replica commits for
    # the owner too and hands its change over: the subscriber gets both, once each, in order.
    owner = f"alice-{uuid.uuid4().hex[:8]}"  # no other gateway on the database names them
    notifier = ChangeNotifier()
    store.add_listener(notifier)
    received: list[Event] = []

    def deliver(events: list[Event]) -> bool:
        received.extend(events)
        return True

    async def consume() -> None:
        since = await store.sync_position(owner)
        direct = deliver if directly else None
        batches = follow(store, notifier, owner, since, capacity=10, on_overflow=no_overflow,
                         deliver=direct)  # fmt: skip
        async for batch in batches:
            received.extend(batch)

    consumer = asyncio.create_task(consume())
    await until(lambda: waiting(store, owner))
    async with SqlStore(Unheard(driver_for(settings))) as elsewhere:
        await send(elsewhere, "m1", "bob", owner, T0)
    await send(store, "m2", "carol", owner, T0 + 1)
    await until(lambda: len(received) >= 2)
    notifier.notify(frozenset({owner}))  # the notice, late: nothing new
    await until(lambda: waiting(store, owner))
    await send(store, "m3", "dave", owner, T0 + 2)
    await until(lambda: len(received) >= 3)
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer

    sessions = [(str(e.session.key), e.session.last_message_id)
                for e in received if isinstance(e, Upserted)]  # fmt: skip
    assert sessions == [("p2p|bob", "m1"), ("p2p|carol", "m2"), ("p2p|dave", "m3")]
