"""Live session events: each subscription tails its owner's change feed in the store.

A commit wakes the subscriptions of the owners it touched (``ChangeNotifier``), handing over
what it changed; a subscription woken by a commit elsewhere reads the feed after its own
position. The store is the log, so wake-ups may be coalesced or arrive from another replica
without losing or doubling a change, and a slow subscriber only lets its own bounded inbox fill:
then it is told to go away and resync with its last token, while ingestion and everyone else
carry on. Each subscription runs in its consumer's task (``follow``): a fan-out to a thousand
subscribers wakes a thousand tasks, not three thousand.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from gateway.domain.keys import SessionKey
from gateway.domain.sessions import Message, Session
from gateway.domain.sync import Change, SyncPosition
from gateway.heap import settling
from gateway.store.base import SessionStore

_READ_BATCH = 100


class Watcher:
    """One subscription's inbox: changes handed over by local commits, or a flag that says
    "read the feed" (a commit elsewhere, whose changes this process has not seen). More than
    ``capacity`` changes waiting mark it overflowed: its subscriber fell too far behind."""

    def __init__(self, capacity: int | None = None) -> None:
        self.woken = asyncio.Event()
        self.needs_read = True
        self.pushed: list[Change] = []
        self.overflowed = False
        self._capacity = capacity

    def push(self, changes: list[Change]) -> None:
        if self.overflowed:
            return
        self.pushed.extend(changes)
        if self._capacity is not None and len(self.pushed) > self._capacity:
            self.overflowed = True
            self.pushed = []
        self.woken.set()

    def wake(self) -> None:
        self.needs_read = True
        self.woken.set()


class MessageCache:
    """The last messages a fan-out shows, read once for all its subscribers: a message just
    stored (``remember``) is kept until the subscribers its commit woke have run, and a read
    under way serves everyone who asks for the same message while it runs. Nothing is kept
    longer: later events show the message as the store has it then."""

    def __init__(self) -> None:
        self._fresh: dict[str, Message] = {}
        self._reading: dict[str, asyncio.Future[Mapping[str, Message]]] = {}

    def remember(self, message: Message) -> None:
        """A message just stored, told before the subscribers the commit woke run: each runs in
        its wake-up, which the loop calls before this later callback, which forgets it."""
        self._fresh[message.server_id] = message
        asyncio.get_running_loop().call_soon(self._forget, message)

    def _forget(self, message: Message) -> None:
        if self._fresh.get(message.server_id) is message:
            del self._fresh[message.server_id]

    async def get(self, store: SessionStore, ids: Sequence[str]) -> dict[str, Message]:
        found: dict[str, Message] = {}
        missing = []
        for server_id in ids:
            message = self._fresh.get(server_id)
            if message is None:
                missing.append(server_id)
            else:
                found[server_id] = message
        if not missing:
            return found
        reads = {id(read): read for m in missing if (read := self._reading.get(m)) is not None}
        unread = [m for m in missing if m not in self._reading]
        if unread:
            read = asyncio.ensure_future(store.get_messages(unread))
            self._reading.update(dict.fromkeys(unread, read))
            read.add_done_callback(partial(self._settle, unread))
            reads[id(read)] = read
        for read in reads.values():
            # Shielded: a reader that is cancelled leaves the read to the others waiting on it.
            messages = await asyncio.shield(read)
            found.update((m, messages[m]) for m in missing if m in messages)
        return found

    def _settle(self, ids: list[str], read: asyncio.Future[Mapping[str, Message]]) -> None:
        for server_id in ids:
            self._reading.pop(server_id, None)
        if not read.cancelled():
            read.exception()  # its waiters got it; none left is no "never retrieved" warning


class ChangeNotifier:
    def __init__(self) -> None:
        self._watchers: defaultdict[str, set[Watcher]] = defaultdict(set)
        self.messages = MessageCache()

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
    def watch(self, owner: str, capacity: int | None = None) -> Iterator[Watcher]:
        watcher = Watcher(capacity)
        self._watchers[owner].add(watcher)
        settling.started()
        try:
            yield watcher
        finally:
            settling.ended()
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


async def follow(
    store: SessionStore,
    notifier: ChangeNotifier,
    owner: str,
    since: SyncPosition,
    *,
    capacity: int,
    on_overflow: Callable[[], Awaitable[None]],
) -> AsyncGenerator[list[Event], None]:
    """The owner's events after ``since``, then live ones, in commit order, in batches as they
    come (in the consumer's own task: no task of its own). When the consumer falls ``capacity``
    changes behind, ``on_overflow`` runs (it should close the connection) and the stream ends."""
    position = since
    with notifier.watch(owner, capacity) as watcher:
        while True:
            # The feed is read when a commit elsewhere may have changed it; changes that commits
            # in this process hand over are used as they are (no read), past the position only.
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
            events = events_of(changes)
            if watcher.overflowed or len(events) > capacity:
                await on_overflow()
                return
            if events:
                yield events
            if not watcher.woken.is_set():
                await watcher.woken.wait()


async def session_events(
    store: SessionStore,
    notifier: ChangeNotifier,
    owner: str,
    since: SyncPosition,
    *,
    capacity: int,
    on_overflow: Callable[[], Awaitable[None]],
) -> AsyncGenerator[Event, None]:
    """``follow``, one event at a time."""
    batches = follow(store, notifier, owner, since, capacity=capacity, on_overflow=on_overflow)
    try:
        async for events in batches:
            for event in events:
                yield event
    finally:
        await batches.aclose()


def _after(change: Change, position: SyncPosition) -> bool:
    if change.version != position.version:
        return change.version > position.version
    return position.key is not None and str(change.key) > position.key
