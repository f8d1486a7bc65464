"""A database from the release with one global change-feed clock upgrades in place to a clock per
owner: every session, message, member and read mark stays; tokens issued before expire."""

from __future__ import annotations

import base64
from collections.abc import Callable

import orjson
import pytest

from gateway.domain.keys import SessionKey
from gateway.domain.pages import PageQuery, TimeWindow
from gateway.domain.sessions import Delivery, LastMessageKind, RevokeNotification, Session
from gateway.domain.sync import SyncPosition
from gateway.errors import SyncTokenExpired
from gateway.settings import Settings
from gateway.store.base import SessionStore
from tests.helpers import database_of_release, p2p, send, team, text_message

PREVIOUS_RELEASE = {"sqlite": 5, "postgres": 2}
CLOCK = {"sqlite": "UPDATE sync_clock SET version = 12;",
         "postgres": "UPDATE sync_clock_state SET version = 12;"}  # fmt: skip
OLD_ROWS = """
INSERT INTO messages (server_id, client_id, from_account, type, time, text, team_key) VALUES
    ('m1', 'c1', 'bob', 'TEXT', 1000, 'first', NULL),
    ('m2', 'c2', 'alice', 'TEXT', 2000, 'second', NULL),
    ('t1', 'c3', 'carol', 'TEXT', 3000, 'to the team', 'team|42'),
    ('m3', 'c4', 'dave', 'TEXT', 4000, 'recalled', NULL);
INSERT INTO revocations (message_server_id, operator, time, postscript)
    VALUES ('m3', 'dave', 4100, 'oops');
INSERT INTO team_members (team_key, member) VALUES ('team|42', 'alice'), ('team|42', 'carol');
INSERT INTO team_facts (team_key, account, time, event_id, member, receives)
    VALUES ('team|42', 'alice', 0, '', 1, 0), ('team|42', 'carol', 0, '', 1, 0);
INSERT INTO sessions (owner, key, kind, update_time, server_ext, last_kind, last_msg_id,
                      last_msg_time, revoke_operator, revoke_time, revoke_postscript, deleted_at,
                      horizon, version, unread, last_read_time, read_horizon, pinned_at) VALUES
    ('alice', 'p2p|bob', 0, 2000, 'e', 0, 'm2', 2000, NULL, NULL, NULL, NULL,
     -9223372036854775808, 7, 0, 2500, 2500, 2600),
    ('alice', 'team|42', 1, 3000, '', 0, 't1', 3000, NULL, NULL, NULL, NULL,
     -9223372036854775808, 9, 1, NULL, -9223372036854775808, NULL),
    ('alice', 'p2p|dave', 0, 4100, '', 1, 'm3', 4000, 'dave', 4100, 'oops', NULL,
     -9223372036854775808, 11, 0, NULL, -9223372036854775808, NULL),
    ('alice', 'p2p|erin', 0, 5000, '', NULL, NULL, NULL, NULL, NULL, NULL, 5000,
     5000, 12, 0, NULL, -9223372036854775808, NULL),
    ('bob', 'p2p|alice', 0, 2000, '', 0, 'm2', 2000, NULL, NULL, NULL, NULL,
     -9223372036854775808, 7, 1, NULL, -9223372036854775808, NULL),
    ('carol', 'team|42', 1, 3000, '', 0, 't1', 3000, NULL, NULL, NULL, NULL,
     -9223372036854775808, 9, 0, NULL, -9223372036854775808, NULL);
INSERT INTO sync_purges (owner, version) VALUES ('alice', 3);
"""
ALICE = [
    Session("alice", p2p("dave"), 4100, last_message_kind=LastMessageKind.REVOKE_NOTIFICATION,
            last_message_id="m3", revoke=RevokeNotification("m3", "dave", 4100, "oops")),
    Session("alice", team("42"), 3000, last_message_kind=LastMessageKind.MESSAGE,
            last_message_id="t1", unread_count=1),
    Session("alice", p2p("bob"), 2000, "e", LastMessageKind.MESSAGE, "m2", last_read_time=2500,
            pinned_at=2600),
]  # fmt: skip


def token_of_the_previous_release(version: int, key: str | None = None) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([version, key])).rstrip(b"=").decode()


@pytest.fixture
async def upgraded(
    settings: Settings, new_store: Callable[[], SessionStore]
) -> Callable[[], SessionStore]:
    backend = "postgres" if settings.uses_postgres() else "sqlite"
    await database_of_release(settings, PREVIOUS_RELEASE, OLD_ROWS + CLOCK[backend])
    return new_store


async def test_every_session_message_and_member_is_kept(
    upgraded: Callable[[], SessionStore],
) -> None:
    async with upgraded() as store:
        assert (await store.list_sessions("alice", PageQuery(TimeWindow()))).sessions == ALICE
        [bobs] = await store.get_sessions("bob", [p2p("alice")])
        assert (bobs.last_message_id, bobs.unread_count) == ("m2", 1)
        [carols] = await store.get_sessions("carol", [team("42")])
        assert carols.last_message_id == "t1"
        refs = [bobs.last_message_ref, carols.last_message_ref, ALICE[0].last_message_ref]
        messages = await store.get_messages([r for r in refs if r is not None])
        assert [messages[r].text for r in refs if r is not None] == [
            "second", "to the team", "recalled"
        ]  # fmt: skip
        # m1, the last message of nobody's, names no peer: it is still known by its sender.
        assert not await store.record_message(text_message("m1", "bob", 1000),
                                              [Delivery("bob", p2p("alice"))])  # fmt: skip
        assert await store.team_members(team("42")) == ["alice", "carol"]
        assert await store.total_unread("alice") == 1


async def test_read_marks_deletions_and_recalls_still_rule_later_events(
    upgraded: Callable[[], SessionStore],
) -> None:
    async with upgraded() as store:
        # Newer than the last message, older than the read mark: shown, not unread.
        await send(store, "m4", "bob", "alice", 2400)
        [bob] = await store.get_sessions("alice", [p2p("bob")])
        assert (bob.last_message_id, bob.unread_count, bob.last_read_time) == ("m4", 0, 2500)
        # Older than the deletion: the deleted session stays deleted.
        await send(store, "m5", "erin", "alice", 4500)
        assert await store.get_sessions("alice", [p2p("erin")]) == []
        # The recall is remembered.
        revoke = RevokeNotification("m3", "dave", 4100, "oops")
        assert not await store.revoke_message(revoke, [Delivery("alice", p2p("dave"))])


async def test_tokens_of_the_previous_release_expire_and_new_ones_follow_the_feed(
    upgraded: Callable[[], SessionStore],
) -> None:
    for old in (token_of_the_previous_release(12), token_of_the_previous_release(9, "team|42")):
        with pytest.raises(SyncTokenExpired):
            SyncPosition.parse(old)
    async with upgraded() as store:
        page = await store.list_sessions("alice", PageQuery(TimeWindow()), with_sync_position=True)
        assert page.sync_position is not None
        position = SyncPosition.parse(page.sync_position.token())
        assert (await store.changes_since("alice", position, 10)).changes == []
        message = text_message("m6", "bob", 6000)
        await store.record_message(message, [Delivery("alice", p2p("bob"))])
        changes = (await store.changes_since("alice", position, 10)).changes
        assert [(c.key, c.session and c.session.last_message_id) for c in changes] == [
            (SessionKey.parse("p2p|bob"), "m6")
        ]
