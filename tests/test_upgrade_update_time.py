"""A database from the release that kept update_time as a maximum over arrivals upgrades in place:
each live session with a last message takes the time of what is last (its msgTimestamp, or the
recall's deleteTime), and those whose time changes reach their owners' change feeds."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.domain.pages import PageQuery, TimeWindow
from gateway.domain.sync import SyncPosition
from gateway.settings import Settings
from gateway.store.base import SessionStore
from tests.helpers import database_of_release, p2p, send, team

PREVIOUS_RELEASE = {"sqlite": 6, "postgres": 3}
# alice's p2p|bob kept the time of a recall of an older message (5000) though m2 (2000) is last;
# carol's team|42 kept the time of an ext set before t1 arrived (3500); the others are right.
OLD_ROWS = """
INSERT INTO messages (server_id, client_id, from_account, type, time, text, team_key) VALUES
    ('m2', 'c2', 'bob', 'TEXT', 2000, 'second', NULL),
    ('t1', 'c3', 'alice', 'TEXT', 3000, 'to the team', 'team|42'),
    ('m3', 'c4', 'dave', 'TEXT', 4000, 'recalled', NULL);
INSERT INTO revocations (message_server_id, operator, time, postscript)
    VALUES ('m3', 'dave', 4100, NULL);
INSERT INTO sessions (owner, key, kind, update_time, server_ext, last_kind, last_msg_id,
                      last_msg_time, revoke_operator, revoke_time, version, unread) VALUES
    ('alice', 'p2p|bob', 0, 5000, '', 0, 'm2', 2000, NULL, NULL, 3, 1),
    ('alice', 'p2p|dave', 0, 4100, '', 1, 'm3', 4000, 'dave', 4100, 2, 0),
    ('alice', 'p2p|erin', 0, 6000, 'e', NULL, NULL, NULL, NULL, NULL, 1, 0),
    ('bob', 'p2p|alice', 0, 2000, '', 0, 'm2', 2000, NULL, NULL, 1, 0),
    ('carol', 'team|42', 1, 3500, 'm', 0, 't1', 3000, NULL, NULL, 0, 1);
INSERT INTO sync_clocks (owner, version) VALUES ('alice', 3), ('bob', 1);
"""


@pytest.fixture
async def upgraded(
    settings: Settings, new_store: Callable[[], SessionStore]
) -> Callable[[], SessionStore]:
    await database_of_release(settings, PREVIOUS_RELEASE, OLD_ROWS)
    return new_store


async def test_sessions_take_the_time_of_what_is_last(
    upgraded: Callable[[], SessionStore],
) -> None:
    async with upgraded() as store:
        page = await store.list_sessions("alice", PageQuery(TimeWindow()))
        assert [(str(s.key), s.update_time) for s in page.sessions] == [
            ("p2p|erin", 6000), ("p2p|dave", 4100), ("p2p|bob", 2000)
        ]  # fmt: skip
        [carols] = await store.get_sessions("carol", [team("42")])
        assert (carols.update_time, carols.server_ext, carols.unread_count) == (3000, "m", 1)
        [bobs] = await store.get_sessions("bob", [p2p("alice")])
        assert bobs.update_time == 2000


async def test_the_sessions_whose_time_changed_reach_the_change_feed(
    upgraded: Callable[[], SessionStore],
) -> None:
    async with upgraded() as store:
        alice = (await store.changes_since("alice", SyncPosition(3), 10)).changes
        assert [(str(c.key), c.session and c.session.update_time) for c in alice] == [
            ("p2p|bob", 2000)
        ]
        carol = (await store.changes_since("carol", SyncPosition(0), 10)).changes
        assert [str(c.key) for c in carol] == ["team|42"]
        assert (await store.changes_since("bob", SyncPosition(1), 10)).changes == []
        # The clocks moved on with them: a later write comes after, not beside, them.
        since = await store.sync_position("alice")
        await send(store, "m5", "bob", "alice", 7000)
        after = (await store.changes_since("alice", since, 10)).changes
        assert [(str(c.key), c.session and c.session.update_time) for c in after] == [
            ("p2p|bob", 7000)
        ]
