"""The messages live events carry: handed over by the ingestor that stored them (equal to what
the store reads back) to the fan-out of their commit, or read once for all the subscribers that
ask at once (live.MessageCache); nothing is kept longer."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.domain.events import parse_event
from gateway.domain.sessions import Message
from gateway.ingest import Ingestor
from gateway.live import MessageCache
from gateway.store import SessionStore
from tests.helpers import T0, cc_message, send

M1 = "p2p|alice bob\nm1"  # Message.ref of bob's m1 to alice
BODIES: list[dict[str, Any]] = [
    {**cc_message("m-pic", "bob", "alice", T0), "msgType": "PICTURE", "body": "",
     "attach": '{"url": "x", "size": [1, 2]}', "ext": "not json"},
    {**cc_message("m-team", "carol", "t1", T0 + 1, conv="TEAM", text="héllo 😀 \u2028"),
     "tMembers": '["alice", "carol"]', "ext": '{"a": {"b": [1, null]}}'},
    {**cc_message("m-custom", "bob", "alice", T0 + 2), "msgType": "CUSTOM", "attach": "[1,[2]]"},
]  # fmt: skip


async def test_the_ingestor_hands_over_the_messages_it_stored_as_the_store_reads_them(
    store: SessionStore,
) -> None:
    stored: list[Message] = []
    ingestor = Ingestor(store, on_stored=stored.append)
    for body in BODIES:
        await ingestor.apply(parse_event(body))
    await ingestor.apply(parse_event({**BODIES[0], "body": "a duplicate"}))

    assert [m.server_id for m in stored] == ["m-pic", "m-team", "m-custom"]
    assert dict(await store.get_messages([m.ref for m in stored])) == {m.ref: m for m in stored}


class CountedReads:
    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.reads = 0

    async def get_messages(self, refs: list[str]) -> dict[str, Message]:
        self.reads += 1
        await asyncio.sleep(0)  # the others ask while it reads
        return dict(await self.store.get_messages(refs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_subscribers_asking_for_a_message_at_once_read_it_once(store: SessionStore) -> None:
    await send(store, "m1", "bob", "alice", T0)
    cache, counted = MessageCache(), CountedReads(store)
    found = await asyncio.gather(*(cache.get(counted, [M1]) for _ in range(50)))  # type: ignore[arg-type]
    assert counted.reads == 1
    assert all(f[M1].server_id == "m1" for f in found)

    await cache.get(counted, [M1])  # type: ignore[arg-type]
    assert counted.reads == 2  # later, the store is asked again


async def test_a_message_just_stored_serves_the_fan_out_of_its_commit_only(
    store: SessionStore,
) -> None:
    message = await send(store, "m1", "bob", "alice", T0)
    cache, counted = MessageCache(), CountedReads(store)
    cache.remember(message)
    assert await cache.get(counted, [M1]) == {M1: message}  # type: ignore[arg-type]
    assert counted.reads == 0

    await asyncio.sleep(0)  # the loop's next round: the woken subscribers have run
    assert await cache.get(counted, [M1]) == {M1: message}  # type: ignore[arg-type]
    assert counted.reads == 1


async def test_a_reader_cancelled_leaves_the_read_to_the_others(store: SessionStore) -> None:
    await send(store, "m1", "bob", "alice", T0)
    cache, counted = MessageCache(), CountedReads(store)
    first = asyncio.ensure_future(cache.get(counted, [M1]))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    second = asyncio.ensure_future(cache.get(counted, [M1]))  # type: ignore[arg-type]
    first.cancel()
    assert (await second)[M1].server_id == "m1"
    assert counted.reads == 1
