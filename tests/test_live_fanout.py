"""A commit's fan-out hands each waiting subscription its events from one callback (``deliver``),
waking no task; whatever that cannot do is left to the subscription's task, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

import httpx
import pytest
from starlette.applications import Starlette

from gateway.domain.sync import SyncPosition
from gateway.ingest import Ingestor
from gateway.live import ChangeNotifier, Event, Upserted, follow
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.helpers import T0, bearer_token, cc_message, post_signed, send, team, until, waiting
from tests.ws import GraphQLSocket, served

WAIT = 10  # seconds: every wait fails rather than hangs


class Subscriber:
    """``follow`` consumed by a task of its own, as Strawberry runs an operation."""

    def __init__(
        self,
        store: SessionStore,
        notifier: ChangeNotifier,
        start: SyncPosition,
        deliver: Callable[[list[Event]], bool],
        *,
        capacity: int = 10,
    ) -> None:
        self.notifier = notifier
        self.yielded: list[Event] = []
        self.overflowed = asyncio.Event()
        self._stream = follow(store, notifier, "alice", start, capacity=capacity,
                              on_overflow=self._overflow, deliver=deliver)  # fmt: skip
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self._stream:
            self.yielded += batch

    async def _overflow(self) -> None:
        self.overflowed.set()

    async def waits(self) -> None:
        await until(lambda: any(w.parked for w in self.notifier._watchers.get("alice", ())))

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


def collecting(delivered: list[Event]) -> Callable[[list[Event]], bool]:
    def deliver(events: list[Event]) -> bool:
        delivered.extend(events)
        return True

    return deliver


def last_ids(events: list[Event]) -> list[str | None]:
    return [e.session.last_message_id for e in events if isinstance(e, Upserted)]


@pytest.fixture
def notifier(store: SessionStore) -> ChangeNotifier:
    notifier = ChangeNotifier()
    store.add_listener(notifier)
    return notifier


async def test_a_waiting_subscription_is_handed_its_events_without_its_task(
    store: SessionStore, notifier: ChangeNotifier
) -> None:
    delivered: list[Event] = []
    subscriber = Subscriber(store, notifier, await store.sync_position("alice"),
                            collecting(delivered))  # fmt: skip
    await subscriber.waits()
    await send(store, "m1", "bob", "alice", T0 + 1)
    await send(store, "m2", "carol", "alice", T0 + 2)
    await until(lambda: len(delivered) == 2)

    assert last_ids(delivered) == ["m1", "m2"]
    assert subscriber.yielded == []
    await subscriber.stop()


async def test_events_declined_go_to_the_task_in_order(
    store: SessionStore, notifier: ChangeNotifier
) -> None:
    delivered: list[Event] = []

    def every_other(events: list[Event]) -> bool:
        if len(delivered) + len(subscriber.yielded) == 1:
            return False
        delivered.extend(events)
        return True

    subscriber = Subscriber(store, notifier, await store.sync_position("alice"), every_other)
    for n in range(3):
        await subscriber.waits()
        await send(store, f"m{n}", "bob", "alice", T0 + n)
        await until(lambda: len(delivered) + len(subscriber.yielded) == n + 1)  # noqa: B023

    assert last_ids(delivered) == ["m0", "m2"]
    assert last_ids(subscriber.yielded) == ["m1"]
    await subscriber.stop()


async def test_a_delivery_that_fails_leaves_the_events_to_the_task(
    store: SessionStore, notifier: ChangeNotifier
) -> None:
    def failing(events: list[Event]) -> bool:
        raise RuntimeError("the socket went away")

    subscriber = Subscriber(store, notifier, await store.sync_position("alice"), failing)
    await subscriber.waits()
    await send(store, "m1", "bob", "alice", T0 + 1)
    await until(lambda: len(subscriber.yielded) == 1)

    assert last_ids(subscriber.yielded) == ["m1"]
    await subscriber.stop()


async def test_a_subscription_being_cancelled_is_handed_nothing(store: SessionStore) -> None:
    notifier = ChangeNotifier()  # told below, by hand
    delivered: list[Event] = []
    subscriber = Subscriber(store, notifier, await store.sync_position("alice"),
                            collecting(delivered))  # fmt: skip
    await subscriber.waits()
    await send(store, "m1", "bob", "alice", T0 + 1)
    changes = (await store.changes_since("alice", subscriber_position(notifier), 10)).changes
    notifier.notify(frozenset({"alice"}), {"alice": changes})  # the fan-out is scheduled...
    subscriber.task.cancel()  # ...when the client completes the operation

    with pytest.raises(asyncio.CancelledError):
        await subscriber.task
    assert delivered == []


def subscriber_position(notifier: ChangeNotifier) -> SyncPosition:
    (watcher,) = notifier._watchers["alice"]
    return watcher.position


async def test_a_subscription_too_far_behind_overflows_instead(
    store: SessionStore, notifier: ChangeNotifier
) -> None:
    delivered: list[Event] = []
    subscriber = Subscriber(store, notifier, await store.sync_position("alice"),
                            collecting(delivered),
                            capacity=0)  # fmt: skip
    await subscriber.waits()
    await send(store, "m1", "bob", "alice", T0 + 1)
    await asyncio.wait_for(subscriber.overflowed.wait(), WAIT)

    assert delivered == []
    await asyncio.wait_for(subscriber.task, WAIT)  # the stream ended


async def test_only_messages_just_stored_are_at_hand(store: SessionStore) -> None:
    notifier = ChangeNotifier()
    ingestor = Ingestor(store, on_stored=notifier.messages.remember)
    await ingestor.apply_json(cc_message("m1", "bob", "alice", T0 + 1))

    m1, m0 = "p2p|alice bob\nm1", "p2p|alice bob\nm0"  # Message.ref: a conversation's id
    assert list(notifier.messages.at_hand([m1]) or ()) == [m1]
    assert notifier.messages.at_hand([m1, m0]) is None
    await asyncio.sleep(0)  # the loop's next round: the fan-out of its commit has run
    assert notifier.messages.at_hand([m1]) is None


QUERY = (
    "subscription { sessionEvents { ... on SessionUpserted { session { lastMessage { serverId } "
    "} } } }"
)


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_a_closed_socket_leaves_the_fan_out_to_the_others(
    settings: Settings, store: SessionStore, clock: Clock, compression: Literal["deflate"] | None
) -> None:
    """(With and without permessage-deflate, which browsers ask for: the frames the fan-out
    writes itself are read back by a real client either way.)"""
    app: Starlette = create_app(settings, store=store, clock=clock)
    async with served(app) as url:
        sockets = [
            await GraphQLSocket.connect(url, bearer_token("alice"), compression=compression)
            for _ in range(3)
        ]
        for socket in sockets:
            await socket.subscribe(QUERY)
        await until(lambda: waiting(store, "alice", subscriptions=3))
        await send(store, "m1", "bob", "alice", T0 + 1)
        for socket in sockets:
            assert (await socket.next_data(WAIT))["sessionEvents"]["session"]["lastMessage"] == {
                "serverId": "m1"
            }
        await sockets[1].close()
        await send(store, "m2", "bob", "alice", T0 + 2)
        for socket in (sockets[0], sockets[2]):
            assert (await socket.next_data(WAIT))["sessionEvents"]["session"]["lastMessage"] == {
                "serverId": "m2"
            }
            await socket.close()


MEMBER_QUERY = (
    "subscription { sessionEvents { ... on SessionUpserted { syncToken session { key "
    "unreadCount serverExt pinned lastMessage { serverId from text } } } } }"
)


async def test_a_team_message_shows_each_member_their_own_session(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    """Every member's frame shows the one message, rendered once, beside what is theirs alone:
    their unread count (none for the sender), their ext and pin, and their own sync token."""
    app: Starlette = create_app(settings, store=store, clock=clock)
    members = '["alice", "bob", "carol"]'
    async with (
        served(app) as url,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
    ):

        async def cc(msgid: str, time: int) -> None:
            body = cc_message(msgid, "carol", "t1", time, conv="TEAM") | {"tMembers": members}
            assert (await post_signed(http, "/nim/cc", body, clock.now)).status_code == 200

        await cc("m1", T0 + 1)
        await store.update_ext("bob", team("t1"), "bob's", T0 + 2)
        await store.set_pinned("bob", team("t1"), True, T0 + 3)
        accounts = ("alice", "bob", "carol")
        sockets = {a: await GraphQLSocket.connect(url, bearer_token(a)) for a in accounts}
        for socket in sockets.values():
            await socket.subscribe(MEMBER_QUERY)
        await until(lambda: all(waiting(store, account) for account in accounts))
        await cc("m2", T0 + 4)
        seen = {a: (await s.next_data(WAIT))["sessionEvents"] for a, s in sockets.items()}
        for socket in sockets.values():
            await socket.close()
    message = {"serverId": "m2", "from": "carol", "text": "hi"}
    assert {a: e["session"] for a, e in seen.items()} == {
        "alice": {"key": "team|t1", "unreadCount": 2, "serverExt": "", "pinned": False,
                  "lastMessage": message},
        "bob": {"key": "team|t1", "unreadCount": 2, "serverExt": "bob's", "pinned": True,
                "lastMessage": message},
        "carol": {"key": "team|t1", "unreadCount": 0, "serverExt": "", "pinned": False,
                  "lastMessage": message},
    }  # fmt: skip
    for account, event in seen.items():  # each at its own feed's newest change
        position = SyncPosition.parse(event["syncToken"])
        assert position.version == (await store.sync_position(account)).version
        assert position.key == "team|t1"
