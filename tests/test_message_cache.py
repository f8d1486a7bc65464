"""Messages once read are kept in memory (store/_messages.py): a page reads its session rows and
only the last messages it has not seen; what it shows is what the database holds."""

from __future__ import annotations

import re
from collections.abc import Callable

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.pages import PageQuery, TimeWindow
from gateway.domain.sessions import Message, MessageType
from gateway.store._messages import ENTRY_BYTES, KeptMessages, size_of
from gateway.store.base import SessionStore
from tests.conftest import Clock, Webhook
from tests.helpers import T0, cc_message, cc_recall, send


def message(n: int, text: str = "hi", conversation: str = "p2p|a b") -> Message:
    return Message(str(n), "a", MessageType.TEXT, T0 + n, text=text, conversation=conversation)


def texts(page_messages: object) -> list[str | None]:
    assert isinstance(page_messages, list | tuple)
    return [m and m.text for m in page_messages]


async def test_a_page_reads_the_messages_it_has_read_before_from_memory(
    store: SessionStore, statements: list[str]
) -> None:
    for n in range(5):
        await send(store, f"{n}", "bob", f"u{n}", T0 + n, text=f"text {n}")
    first = await store.list_sessions("bob", PageQuery(TimeWindow()), with_last_messages=True)
    statements.clear()
    again = await store.list_sessions("bob", PageQuery(TimeWindow()), with_last_messages=True)
    assert texts(again.last_messages) == texts(first.last_messages)
    assert texts(again.last_messages) == [f"text {n}" for n in range(4, -1, -1)]
    assert not [s for s in statements if "FROM messages" in s], statements


async def test_a_page_reads_only_the_messages_it_has_not_seen(
    store: SessionStore, statements: list[str]
) -> None:
    await send(store, "1", "bob", "carol", T0, text="old")
    await store.list_sessions("bob", PageQuery(TimeWindow()), with_last_messages=True)
    await send(store, "2", "bob", "carol", T0 + 1, text="new")
    await send(store, "3", "dave", "bob", T0 + 2, text="from dave")
    statements.clear()
    page = await store.list_sessions("bob", PageQuery(TimeWindow()), with_last_messages=True)
    assert texts(page.last_messages) == ["from dave", "new"]
    assert len([s for s in statements if "FROM messages" in s]) == 1
    # The same ids, another conversation: each session still shows its own conversation's.
    await send(store, "3", "erin", "bob", T0 + 3, text="from erin")
    page = await store.list_sessions("bob", PageQuery(TimeWindow()), with_last_messages=True)
    assert texts(page.last_messages) == ["from erin", "from dave", "new"]


async def test_get_messages_and_pages_share_what_was_read(
    new_store: Callable[[], SessionStore], statements: list[str]
) -> None:
    async with new_store() as store:
        sent = await send(store, "7", "bob", "carol", T0, text="shared")
    async with new_store() as store:  # another replica: nothing in memory yet
        statements.clear()
        found = await store.get_messages([sent.ref])
        assert [m.text for m in found.values()] == ["shared"]
        assert len([s for s in statements if "FROM messages" in s]) == 1
        page = await store.list_sessions("carol", PageQuery(TimeWindow()), with_last_messages=True)
        assert texts(page.last_messages) == ["shared"]
        assert len([s for s in statements if "FROM messages" in s]) == 1
        assert await store.get_messages(["p2p|bob carol\nnone"]) == {}


async def test_what_the_gateway_does_to_a_message_is_insert_it(
    webhook: Webhook, store: SessionStore, statements: list[str], clock: Clock
) -> None:
    """The memory holds only while no statement changes or deletes a message row: every kind of
    event and of owner's write, traced, inserts messages and nothing else."""
    team = {**cc_message("3", "x", "x", T0 + 2, conv="TEAM"), "fromAccount": "alice", "to": "42"}
    for event in (
        cc_message("1", "alice", "bob", T0),
        cc_message("2", "bob", "alice", T0 + 1),
        team,
        cc_recall("2", "bob", "alice", T0 + 3),
        cc_recall("3", "alice", "42", T0 + 4, event_type=8),
    ):
        await webhook.ok(event)
    now = clock()
    alice = SessionKey(SessionType.P2P, "alice")
    await store.update_ext("bob", alice, "x", now)
    await store.mark_read("bob", [alice], now)
    await store.mark_all_read("alice", now)
    await store.set_muted("bob", [alice], True)
    await store.delete_sessions("bob", [alice], now)
    await store.purge_tombstones(now + 1)
    assert any(re.search(r"INSERT INTO messages\b", s) for s in statements)
    changing = re.compile(r"\b(UPDATE|DELETE\s+FROM|REPLACE\s+INTO|INTO)\s+\"?messages\b", re.I)
    writes = [s for s in statements if changing.search(s) and "INSERT INTO messages" not in s]
    assert writes == []


def test_the_cache_never_holds_more_than_its_bytes() -> None:
    budget = 20 * ENTRY_BYTES
    cache = KeptMessages(budget)
    for n in range(1000):
        cache.add([message(n)])
        assert len(cache) * size_of(message(n)) <= budget
    found, missing = cache.find([message(999).ref, message(0).ref])
    assert list(found) == [message(999).ref]
    assert missing == [message(0).ref]


def test_what_is_used_stays_and_what_is_not_goes() -> None:
    cache = KeptMessages(10 * size_of(message(0)))
    cache.add([message(n) for n in range(5)])  # the new generation: full
    cache.add([message(5)])  # turns over: 0-4 are old now
    cache.find([message(0).ref])  # used again: back in the new generation
    cache.add([message(n) for n in range(6, 10)])  # the new generation turns over again
    found, missing = cache.find([message(n).ref for n in range(10)])
    assert sorted(found, key=lambda ref: int(ref.rpartition("\n")[2])) == [
        message(n).ref for n in (0, 5, 6, 7, 8, 9)
    ]
    assert missing == [message(n).ref for n in (1, 2, 3, 4)]


def test_a_message_larger_than_half_the_cache_is_not_kept() -> None:
    cache = KeptMessages(4 * ENTRY_BYTES)
    small, large = message(1), message(2, text="x" * 4 * ENTRY_BYTES)
    cache.add([small, large])
    found, missing = cache.find([small.ref, large.ref, small.ref])
    assert list(found) == [small.ref]
    assert missing == [large.ref]


def test_a_cache_of_no_bytes_keeps_nothing() -> None:
    cache = KeptMessages(0)
    cache.add([message(1)])
    assert cache.find([message(1).ref]) == ({}, [message(1).ref])
    assert len(cache) == 0
