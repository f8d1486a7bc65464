"""A database from the release before membership was learned from the stream upgrades in place:
its registered members stay members, as of before any message."""

from __future__ import annotations

from collections.abc import Callable

from gateway.domain.keys import SessionKey, SessionType
from gateway.ingest import Ingestor
from gateway.settings import Settings
from gateway.store.base import SessionStore
from tests.helpers import T0, cc_message, database_of_release

TEAM = SessionKey(SessionType.TEAM, "42")
OLD_ROWS = """
INSERT INTO team_members (team_key, member) VALUES ('team|42', 'bob'), ('team|42', 'carol');
INSERT INTO messages (server_id, from_account, type, time, text)
    VALUES ('old-1', 'bob', 'TEXT', 1, 'before the upgrade');
INSERT INTO sessions (owner, key, kind, update_time, last_kind, last_msg_id, last_msg_time, unread)
    VALUES ('carol', 'team|42', 1, 1, 0, 'old-1', 1, 1);
"""


async def test_registered_members_survive_the_upgrade_and_receive_team_messages(
    settings: Settings, new_store: Callable[[], SessionStore]
) -> None:
    await database_of_release(settings, {"sqlite": 4, "postgres": 1}, OLD_ROWS)
    async with new_store() as store:
        assert await store.team_members(TEAM) == ["bob", "carol"]
        await Ingestor(store).apply_json(cc_message("t1", "alice", "42", T0, conv="TEAM"))
        assert await store.team_members(TEAM) == ["alice", "bob", "carol"]
        for owner, unread in (("bob", 1), ("carol", 2), ("alice", 0)):
            [found] = await store.get_sessions(owner, [TEAM])
            assert (found.last_message_id, found.unread_count) == ("t1", unread)
