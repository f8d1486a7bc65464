"""A database from the release before conversation groups and do-not-disturb upgrades in place:
its sessions are unmuted and in no group, its feeds and totals carry on, and its sessions can be
grouped, paged by group and muted at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.domain.groups import GroupLimits
from gateway.domain.pages import Filters, PageQuery, TimeWindow
from gateway.domain.sync import SyncPosition
from gateway.settings import Settings
from gateway.store.base import SessionStore
from tests.helpers import database_of_release, p2p, send

PREVIOUS_RELEASE = {"sqlite": 10, "postgres": 7}
OLD_ROWS = """
INSERT INTO messages (server_id, conversation, client_id, from_account, type, time, text) VALUES
    ('m1', 'p2p|alice bob', 'c1', 'bob', 'TEXT', 1000, 'one'),
    ('m2', 'p2p|alice carol', 'c2', 'carol', 'TEXT', 2000, 'two');
INSERT INTO sessions (owner, key, kind, update_time, last_kind, last_msg_id, last_msg_time,
                      version, unread) VALUES
    ('alice', 'p2p|bob', 0, 1000, 0, 'm1', 1000, 1, 1),
    ('alice', 'p2p|carol', 0, 2000, 0, 'm2', 2000, 2, 2);
INSERT INTO sync_clocks (owner, version) VALUES ('alice', 2);
"""


@pytest.fixture
async def upgraded(
    settings: Settings, new_store: Callable[[], SessionStore]
) -> Callable[[], SessionStore]:
    await database_of_release(settings, PREVIOUS_RELEASE, OLD_ROWS)
    return new_store


async def test_old_sessions_are_unmuted_and_in_no_group(
    upgraded: Callable[[], SessionStore],
) -> None:
    async with upgraded() as store:
        page = await store.list_sessions("alice", PageQuery(TimeWindow()))
        assert [(str(s.key), s.muted) for s in page.sessions] == [
            ("p2p|carol", False), ("p2p|bob", False)
        ]  # fmt: skip
        assert await store.total_unread("alice") == 3
        assert await store.list_groups("alice") == []
        assert await store.groups_of("alice", [p2p("bob")]) == {p2p("bob"): []}
        assert (await store.changes_since("alice", SyncPosition(2), 10)).changes == []


async def test_old_sessions_are_grouped_paged_and_muted(
    upgraded: Callable[[], SessionStore],
) -> None:
    async with upgraded() as store:
        await store.create_group("alice", "g", "Work", "", [p2p("bob"), p2p("carol")], 5000,
                                 GroupLimits())  # fmt: skip
        await send(store, "m3", "bob", "alice", 3000)  # bob's session moves to the top
        query = PageQuery(TimeWindow(), limit=1, filters=Filters(group_id="g"))
        page = await store.list_sessions("alice", query)
        assert [str(s.key) for s in page.sessions] == ["p2p|bob"]
        await store.set_muted("alice", [p2p("carol")], True)
        assert await store.total_unread("alice") == 2
        assert await store.total_unread("alice", include_muted=True) == 4
