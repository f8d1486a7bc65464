"""Live session events: each subscription tails its owner's change feed in the store.

A commit wakes the subscriptions of the owners it touched (``ChangeNotifier``); each woken
subscription reads the feed after its own position and queues the events. The store is the log,
so wake-ups may be coalesced or arrive from another replica without losing or doubling a change,
and a slow subscriber only lets its own bounded queue fill: then it is told to go away and resync
with its last token, while ingestion and everyone else carry on.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from gateway.domain.keys import SessionKey
from gateway.domain.sessions import Session
from gateway.domain.sync import Change, SyncPosition
from gateway.store.base import SessionStore

_READ_BATCH = 100


class Watcher:
    """One subscription's inbox: changes handed over by local commits, or a flag that says
    "read the feed" (a commit elsewhere, whose changes this process has not seen)."""

    def __init__(self) -> None:
        self.woken = asyncio.Event()
        self.needs_read = True
        self.pushed: list[Change] = []

    def push(self, changes: list[Change]) -> None:
        self.pushed.extend(changes)
        self.woken.set()

    def wake(self) -> None:
        self.needs_read = True
        self.woken.set()


class ChangeNotifier:
    def __init__(self) -> None:
        self._watchers: defaultdict[str, set[Watcher]] = defaultdict(set)

    def notify(
        self, owners: frozenset[str], changes: Mapping[str, list[Change]] | None = None
    ) -> None:
        for owner in owners:
            watchers = self._watchers.get(owner)
            if not watchers:
                continue
            mine = None if changes is None else changes.get(owner)
            for watcher in watchers:
                if mine is None:
                    watcher.wake()
                else:
                    watcher.push(mine)

    @contextmanager
    def watch(self, owner: str) -> Iterator[Watcher]:
        watcher = Watcher()
        self._watchers[owner].add(watcher)
        try:
            yield watcher
        finally:
            self._watchers[owner].discard(watcher)
            if not self._watchers[owner]:
                del self._watchers[owner]

    def watched(self) -> Collection[str]:
        return self._watchers.keys()


@dataclass(frozen=True, slots=True)
class Upserted:
    session: Session
    position: SyncPosition


@dataclass(frozen=True, slots=True)
class Deleted:
    keys: list[SessionKey]
    position: SyncPosition


Event = Upserted | Deleted


class Overflow(Exception):
    """The subscriber fell more than its queue's size behind."""


def events_of(changes: list[Change]) -> list[Event]:
    """One event per changed session; deletions committed together make one event."""
    events: list[Event] = []
    for change in changes:
        if change.session is not None:
            events.append(Upserted(change.session, change.position))
            continue
        last = events[-1] if events else None
        if isinstance(last, Deleted) and last.position.version == change.version:
            events[-1] = Deleted([*last.keys, change.key], change.position)
        else:
            events.append(Deleted([change.key], change.position))
    return events


async def session_events(
    store: SessionStore,
    notifier: ChangeNotifier,
    owner: str,
    since: SyncPosition,
    *,
    capacity: int,
    on_overflow: Callable[[], Awaitable[None]],
) -> AsyncIterator[Event]:
    """The owner's events after ``since``, then live ones, in commit order. When the consumer
    falls ``capacity`` events behind, ``on_overflow`` runs (it should close the connection) and
    the stream ends."""
    queue: asyncio.Queue[Event | Overflow] = asyncio.Queue(maxsize=capacity)

    async def pump(watcher: Watcher) -> None:
        # The feed is read when a commit elsewhere may have changed it; changes that commits in
        # this process hand over are used as they are (no read), past the position only.
        position = since
        while True:
            watcher.woken.clear()
            changes: list[Change] = []
            if watcher.needs_read:
                watcher.needs_read = False
                while True:
                    batch = await store.changes_since(owner, position, _READ_BATCH)
                    changes += batch.changes
                    position = batch.position
                    if not batch.has_more:
                        break
            pushed, watcher.pushed = watcher.pushed, []
            changes += [c for c in pushed if _after(c, position)]
            if changes:
                position = changes[-1].position
            for event in events_of(changes):
                if queue.full():
                    _drain(queue)
                    queue.put_nowait(Overflow())
                    await on_overflow()
                    return
                queue.put_nowait(event)
            await watcher.woken.wait()

    with notifier.watch(owner) as watcher:
        task = asyncio.create_task(pump(watcher))
        getter: asyncio.Task[Event | Overflow] | None = None
        try:
            while True:
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    task.result()  # the pump failed: raise its error here
                    return
                item = getter.result()
                if isinstance(item, Overflow):
                    return
                yield item
        finally:
            # Both tasks end here, however the stream ends (the consumer may be cancelled while
            # it waits): a task left pending is destroyed pending when the loop closes.
            for pending in (getter, task):
                if pending is not None:
                    pending.cancel()
                    with suppress(asyncio.CancelledError):
                        await pending


def _after(change: Change, position: SyncPosition) -> bool:
    if change.version != position.version:
        return change.version > position.version
    return position.key is not None and str(change.key) > position.key


def _drain(queue: asyncio.Queue[Event | Overflow]) -> None:
    while not queue.empty():
        queue.get_nowait()
