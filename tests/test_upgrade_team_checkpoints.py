"""A database from the release before membership checkpoints upgrades in place: each team's
cached members become its first checkpoint, at its newest change, and a late change before it
corrects it."""

from __future__ import annotations

from collections.abc import Callable

from gateway.domain.keys import SessionKey, SessionType
from gateway.settings import Settings
from gateway.store.base import SessionStore
from tests.helpers import database_of_release
from tests.histories import checkpoints

PREVIOUS_RELEASE = {"sqlite": 11, "postgres": 8}
TEAM = SessionKey(SessionType.TEAM, "42")
OLD_ROWS = """
INSERT INTO team_members (team_key, member) VALUES ('team|42', 'alice'), ('team|42', 'bob');
INSERT INTO team_facts (team_key, account, time, event_id, member, receives) VALUES
    ('team|42', 'alice', 0, '', 1, 0), ('team|42', 'bob', 0, '', 1, 0),
    ('team|42', 'bob', 2000, '9', 1, 1);
INSERT INTO messages (server_id, conversation, from_account, type, time, text, team_key)
    VALUES ('9', 'team|42', 'bob', 'TEXT', 2000, 'hi', 'team|42');
INSERT INTO sessions (owner, key, kind, update_time, last_kind, last_msg_id, last_msg_time,
                      unread, version) VALUES
    ('alice', 'team|42', 1, 2000, 0, '9', 2000, 1, 1),
    ('bob', 'team|42', 1, 2000, 0, '9', 2000, 0, 1);
INSERT INTO sync_clocks (owner, version) VALUES ('alice', 1), ('bob', 1);
"""


async def test_the_cached_members_become_the_first_checkpoint_and_a_late_change_corrects_it(
    settings: Settings, new_store: Callable[[], SessionStore]
) -> None:
    await database_of_release(settings, PREVIOUS_RELEASE, OLD_ROWS)
    async with new_store() as store:
        assert await checkpoints(store, TEAM) == {(2000, "9"): {"alice", "bob"}}
        await store.remove_team_members(TEAM, ["alice"], 1000)  # before the message
        assert await checkpoints(store, TEAM) == {(2000, "9"): {"bob"}}
        assert await store.team_members(TEAM) == ["bob"]
        assert [s.last_message_id for s in await store.get_sessions("alice", [TEAM])] == []
        [bob] = await store.get_sessions("bob", [TEAM])
        assert bob.last_message_id == "9"
