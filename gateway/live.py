"""Live session events: each subscription tails its owner's change feed in the store.

A commit wakes the subscriptions of the owners it touched (``ChangeNotifier``), handing over
what it changed; a subscription woken by a commit elsewhere reads the feed after its own
position. The store is the log, so wake-ups may be coalesced or arrive from another replica
without losing or doubling a change, and a slow subscriber only lets its own bounded inbox fill:
then it is told to go away and resync with its last token, while ingestion and everyone else
carry on. Each subscription runs in its consumer's task (``follow``); one that can send its
events from a callback (``deliver``) and waits for news is not woken at all: a commit's fan-out
hands all of them their events in one callback, and wakes only those it cannot serve. A change
handed over is used as it is only when it follows the subscription's position with no version of
the owner's missing between: a version skipped is another replica's commit, whose notice may
not have come yet, and the feed is read instead. While the database is away, a subscription's
reads are tried again, with backoff, until it is back: it waits rather than ends, and misses
nothing.
"""

from __future__ import annotations

import asyncio
import logging
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
from typing import TypeVar

from gateway.domain.groups import FeedChange, GroupChange, SessionGroup
from gateway.domain.keys import SessionKey
from gateway.domain.sessions import Message, Session
from gateway.domain.sync import Change, SyncPosition
from gateway.errors import StoreUnavailable
from gateway.heap import settling
from gateway.store.base import SessionStore

_READ_BATCH = 100
_RETRY_FIRST_S, _RETRY_MAX_S = 0.05, 5.0
T = TypeVar("T")

logger = logging.getLogger(__name__)


class Wake:
    """``asyncio.Event`` for the one task that waits on it (a subscription's), without the
    Event's deque of waiters: every idle subscription holds one."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class Watcher:
    """One subscription's inbox: changes handed over by local commits, or a flag that says
    "read the feed" (a commit elsewhere, whose changes this process has not seen). More than
    ``capacity`` changes waiting mark it overflowed: its subscriber fell too far behind.

    A subscription that can send its events from a callback (``deliver``: all of them, at
    once, or none) is not woken for changes handed over while it waits (``parked``): the
    notifier's fan-out delivers them (``take``), and wakes it only when it cannot."""

    __slots__ = ("_capacity", "deliver", "needs_read", "on_wake", "overflowed", "parked",
                 "position", "pushed", "queued", "task", "woken")  # fmt: skip

    def __init__(self, capacity: int | None = None) -> None:
        self.woken = Wake()
        self.needs_read = True
        self.pushed: list[Change] = []
        self.overflowed = False
        self.position = SyncPosition(0)
        self.parked = False
        self.deliver: Callable[[list[Event]], bool] | None = None
        self.queued = False  # in the notifier's fan-out
        self.task: asyncio.Task[object] | None = None  # the subscription's, while it follows
        # Parked without a task (``follow``'s ``park``): what starts one when it must run.
        self.on_wake: Callable[[], None] | None = None
        self._capacity = capacity

    def push(self, changes: list[Change]) -> None:
        self.hand_over(changes)
        self.rouse()

    def rouse(self) -> None:
        """Wakes the subscription's task, or starts one for a subscription parked without."""
        self.woken.set()
        if self.on_wake is not None:
            wake, self.on_wake = self.on_wake, None
            wake()

    def hand_over(self, changes: list[Change]) -> None:
        """Adds ``changes`` to the inbox without waking the subscription."""
        if self.overflowed:
            return
        self.pushed.extend(changes)
        if self._capacity is not None and len(self.pushed) > self._capacity:
            self.overflowed = True
            self.pushed = []

    def wake(self) -> None:
        self.needs_read = True
        self.rouse()

    def takes_directly(self) -> bool:
        return self.deliver is not None and self.parked and not self.woken.is_set()

    def take(self) -> bool:
        """Delivers what was handed over, from a callback, as the subscription's task would
        have: False (nothing done) when it cannot (it is awake, must read the feed, fell
        behind, or ``deliver`` declines), and its task must run. Nothing goes to a task that
        is being cancelled (its client completed the operation): it would have sent nothing."""
        if not self.takes_directly() or self.needs_read or self.overflowed:
            return False
        if self.task is not None and self.task.cancelling():
            return False
        assert self.deliver is not None
        changes = [c for c in self.pushed if _after(c, self.position)]
        if not _continues(changes, self.position):
            return False
        events = events_of(changes)
        if self._capacity is not None and len(events) > self._capacity:
            return False
        if events and not self.deliver(events):
            return False
        self.pushed = []
        if events:  # each event is at its last change's position
            self.position = events[-1].position
        return True


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
        self._fresh[message.ref] = message
        asyncio.get_running_loop().call_soon(self._forget, message)

    def _forget(self, message: Message) -> None:
        if self._fresh.get(message.ref) is message:
            del self._fresh[message.ref]

    def at_hand(self, ids: Sequence[str]) -> dict[str, Message] | None:
        """The messages ``ids`` (``Message.ref``s), when each was just stored (no read needed),
        or None."""
        found: dict[str, Message] = {}
        for server_id in ids:
            message = self._fresh.get(server_id)
            if message is None:
                return None
            found[server_id] = message
        return found

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
        self._fan_out: list[Watcher] = []
        self._fan_out_scheduled = False

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
                elif watcher.takes_directly():
                    watcher.hand_over(mine)
                    if not watcher.queued:
                        watcher.queued = True
                        self._fan_out.append(watcher)
                else:
                    watcher.push(mine)
        if self._fan_out and not self._fan_out_scheduled:
            # One callback for the whole fan-out, after the writer's own continuation (which
            # tells MessageCache the messages it stored): as the woken tasks would run.
            self._fan_out_scheduled = True
            asyncio.get_running_loop().call_soon(self._deliver)

    def _deliver(self) -> None:
        watchers, self._fan_out = self._fan_out, []
        self._fan_out_scheduled = False
        for watcher in watchers:
            watcher.queued = False
            try:
                taken = watcher.take()
            except Exception:
                logger.exception("a subscription's direct delivery failed; its task takes over")
                taken = False
            if not taken:
                watcher.rouse()

    @contextmanager
    def watch(self, owner: str, capacity: int | None = None) -> Iterator[Watcher]:
        watcher = Watcher(capacity)
        self.add(owner, watcher)
        try:
            yield watcher
        finally:
            self.discard(owner, watcher)

    def add(self, owner: str, watcher: Watcher) -> None:
        """Hands ``owner``'s changes to ``watcher`` until it is discarded."""
        self._watchers[owner].add(watcher)
        settling.started()

    def discard(self, owner: str, watcher: Watcher) -> None:
        watchers = self._watchers.get(owner)
        if watchers is None or watcher not in watchers:
            return
        settling.ended()
        watchers.discard(watcher)
        if not watchers:
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


@dataclass(frozen=True, slots=True)
class GroupUpserted:
    group: SessionGroup
    position: SyncPosition


@dataclass(frozen=True, slots=True)
class GroupDeleted:
    group_id: str
    position: SyncPosition


Event = Upserted | Deleted | GroupUpserted | GroupDeleted


class Overflow(Exception):
    """The subscriber fell more than its queue's size behind."""


def events_of(changes: Sequence[FeedChange]) -> list[Event]:
    """One event per changed session; deletions committed together make one event."""
    events: list[Event] = []
    for change in changes:
        if isinstance(change, GroupChange):
            if change.group is None:
                events.append(GroupDeleted(change.group_id, change.position))
            else:
                events.append(GroupUpserted(change.group, change.position))
            continue
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
    deliver: Callable[[list[Event]], bool] | None = None,
    watcher: Watcher | None = None,
    park: Callable[[Watcher], bool] | None = None,
) -> AsyncGenerator[list[Event], None]:
    """The owner's events after ``since``, then live ones, in commit order, in batches as they
    come (in the consumer's own task: no task of its own). When the consumer falls ``capacity``
    changes behind, ``on_overflow`` runs (it should close the connection) and the stream ends.
    With ``deliver``, live events handed over while the consumer waits for more go to it
    instead, from the notifier's fan-out (all of a batch or none: those it declines come here).

    With ``watcher``, one the caller added to the notifier and discards (it holds the position
    to go on from, ``since`` is not used), and ``park``: where the stream would wait for news
    with ``deliver`` set, ``park(watcher)`` may end it instead, leaving the watcher parked
    without a task; whatever ``deliver`` cannot serve then calls ``watcher.on_wake``, which
    should follow on from the same watcher in a task of its own."""
    own = watcher is None
    if watcher is None:
        watcher = Watcher(capacity)
        watcher.position = since
        notifier.add(owner, watcher)
    watcher.deliver = deliver
    watcher.task = asyncio.current_task()
    watcher.parked = False
    try:
        while True:
            # The feed is read when a commit elsewhere may have changed it; changes that commits
            # in this process hand over are used as they are (no read), past the position only,
            # unless a version between is missing: the feed has it.
            watcher.woken.clear()
            changes: list[FeedChange] = []
            while True:
                if watcher.needs_read:
                    watcher.needs_read = False
                    while True:
                        read = partial(store.changes_since, owner, watcher.position, _READ_BATCH)
                        batch = await patiently(read)
                        changes += batch.in_feed_order()
                        watcher.position = batch.position
                        if not batch.has_more:
                            break
                pushed, watcher.pushed = watcher.pushed, []
                fresh = [c for c in pushed if _after(c, watcher.position)]
                if _continues(fresh, watcher.position):
                    break
                watcher.needs_read = True
            changes += fresh
            if changes:
                watcher.position = changes[-1].position
            events = events_of(changes)
            if watcher.overflowed or len(events) > capacity:
                await on_overflow()
                return
            if events:
                yield events
            if not watcher.woken.is_set():
                watcher.parked = True
                if deliver is not None and park is not None and park(watcher):
                    watcher.task = None
                    return
                try:
                    await watcher.woken.wait()
                finally:
                    watcher.parked = False
    finally:
        if own:
            notifier.discard(owner, watcher)


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


async def patiently(read: Callable[[], Awaitable[T]]) -> T:
    """``read()``, tried again while the store is unavailable, with backoff, until it answers."""
    pause = _RETRY_FIRST_S
    while True:
        try:
            return await read()
        except StoreUnavailable as e:
            logger.warning("a subscription's read failed (%s): again in %.2f s", e.message, pause)
        await asyncio.sleep(pause)
        pause = min(2 * pause, _RETRY_MAX_S)


def _continues(changes: list[Change], position: SyncPosition) -> bool:
    """Whether ``changes`` (in feed order, after ``position``) leave out no version between.
    Each commit takes the owner's next version, so a version skipped is a commit this process
    did not hand over: another replica's, whose notice may not have come yet (or one that
    changed none of the owner's sessions). Taking the later ones would move the position past
    it for good."""
    version = position.version
    for change in changes:
        if change.version > version + 1:
            return False
        version = change.version
    return True


def _after(change: FeedChange, position: SyncPosition) -> bool:
    if change.version != position.version:
        return change.version > position.version
    return position.key is not None and str(change.key) > position.key
