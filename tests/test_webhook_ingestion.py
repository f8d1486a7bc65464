"""The message-CC webhook keeps the session lists current: P2P, teams, recalls, redelivery."""

from __future__ import annotations

from collections.abc import Callable

from gateway.settings import Settings
from gateway.store import SessionStore
from tests.conftest import Webhook
from tests.helpers import T0, GraphQLClient, cc_message, cc_recall, raw_sql

ONE = """query($id: ID!) { session(id: $id) {
  key updateTime serverExt lastMessageKind
  lastMessage { serverId from text time }
  lastRevokeNotification { messageServerId operator time postscript }
} }"""
KEYS = "{ sessions { edges { node { key lastMessage { serverId } } } } }"


async def session(client: GraphQLClient, key: str) -> dict[str, object] | None:
    found: dict[str, object] | None = (await client.ok(ONE, id=key))["session"]
    return found


async def last_id(client: GraphQLClient, key: str) -> object:
    found = await session(client, key)
    assert found is not None, f"no {key}"
    message = found["lastMessage"]
    return message["serverId"] if isinstance(message, dict) else None


async def test_a_p2p_message_updates_both_sides(
    webhook: Webhook, alice: GraphQLClient, bob: GraphQLClient
) -> None:
    assert await webhook.ok(cc_message("m1", "alice", "bob", T0, text="lunch?")) == {
        "outcome": "applied"
    }
    for client, key in ((alice, "p2p|bob"), (bob, "p2p|alice")):
        assert await session(client, key) == {
            "key": key,
            "updateTime": "2026-09-21T14:13:20.000Z",
            "serverExt": "",
            "lastMessageKind": "MESSAGE",
            "lastMessage": {"serverId": "m1", "from": "alice", "text": "lunch?",
                            "time": "2026-09-21T14:13:20.000Z"},
            "lastRevokeNotification": None,
        }  # fmt: skip


async def test_a_message_to_yourself_updates_one_session(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "alice", "alice", T0))
    data = await alice.ok(KEYS)
    assert [e["node"]["key"] for e in data["sessions"]["edges"]] == ["p2p|alice"]


async def test_the_same_message_twice_changes_nothing(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "alice", "bob", T0))
    await alice.ok(
        'mutation { updateSessionExt(input: {id: "p2p|bob", ext: "x"}) { session { key } } }'
    )
    before = await session(alice, "p2p|bob")
    assert await webhook.ok(cc_message("m1", "alice", "bob", T0)) == {"outcome": "duplicate"}
    assert await session(alice, "p2p|bob") == before


async def test_an_older_message_arriving_late_does_not_replace_the_newer(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m2", "bob", "alice", T0 + 500))
    await webhook.ok(cc_message("m1", "alice", "bob", T0))
    found = await session(alice, "p2p|bob")
    assert found is not None
    assert found["updateTime"] == "2026-09-21T14:13:20.500Z"
    assert await last_id(alice, "p2p|bob") == "m2"


async def test_a_team_message_reaches_every_member_and_the_sender(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient], alice: GraphQLClient
) -> None:
    await webhook.team("42", ["bob", "carol"])
    await webhook.ok(cc_message("t1", "alice", "42", T0, conv="TEAM"))
    for account in ("alice", "bob", "carol"):
        client = as_user(account)
        assert await last_id(client, "team|42") == "t1"
    outsider = as_user("dave")
    assert await session(outsider, "team|42") is None


async def test_super_team_messages_use_super_team_sessions(
    webhook: Webhook, bob: GraphQLClient
) -> None:
    await webhook.team("9", ["bob"], kind="SUPER_TEAM")
    await webhook.team("9", ["erin"], kind="TEAM")  # another registry entry, same tid
    await webhook.ok(cc_message("s1", "alice", "9", T0, conv="SUPER_TEAM"))
    assert await last_id(bob, "super_team|9") == "s1"
    assert await session(bob, "team|9") is None


async def test_a_ten_thousand_member_team_costs_what_a_small_team_costs(
    webhook: Webhook, store: SessionStore, statements: list[str]
) -> None:
    await webhook.team("small", ["u1", "u2"])
    await webhook.team("big", [f"member-{n:05}" for n in range(10_000)])

    statements.clear()
    await webhook.ok(cc_message("t-small", "u1", "small", T0, conv="TEAM"))
    small = len(statements)
    statements.clear()
    await webhook.ok(cc_message("t-big", "member-00000", "big", T0, conv="TEAM"))
    assert len(statements) == small

    from tests.helpers import team

    for member in ("member-00000", "member-04567", "member-09999"):
        [found] = await store.get_sessions(member, [team("big")])
        assert found.last_message_id == "t-big"


async def test_a_recall_of_the_last_message_shows_a_revoke_notification(
    webhook: Webhook, alice: GraphQLClient, bob: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "alice", "bob", T0))
    await webhook.ok(cc_recall("m1", "alice", "bob", T0 + 2000, note="wrong chat"))
    for client, key in ((alice, "p2p|bob"), (bob, "p2p|alice")):
        found = await session(client, key)
        assert found is not None
        assert (found["lastMessageKind"], found["lastMessage"]) == ("REVOKE_NOTIFICATION", None)
        assert found["updateTime"] == "2026-09-21T14:13:22.000Z"
        assert found["lastRevokeNotification"] == {
            "messageServerId": "m1", "operator": "alice",
            "time": "2026-09-21T14:13:22.000Z", "postscript": "wrong chat",
        }  # fmt: skip


async def test_a_recall_of_an_older_message_changes_nothing(
    webhook: Webhook, bob: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "alice", "bob", T0))
    await webhook.ok(cc_message("m2", "alice", "bob", T0 + 10))
    before = await session(bob, "p2p|alice")
    await webhook.ok(cc_recall("m1", "alice", "bob", T0 + 20))
    assert await session(bob, "p2p|alice") == before


async def test_a_recall_before_its_message_ends_as_if_both_came_in_order(
    webhook: Webhook, bob: GraphQLClient, carol: GraphQLClient
) -> None:
    # bob gets the recall first; carol gets the same kind of pair in order.
    await webhook.ok(cc_recall("m1", "alice", "bob", T0 + 2000, note="oops"))
    assert await session(bob, "p2p|alice") is None
    await webhook.ok(cc_message("m1", "alice", "bob", T0))

    await webhook.ok(cc_message("n1", "alice", "carol", T0))
    await webhook.ok(cc_recall("n1", "alice", "carol", T0 + 2000, note="oops"))

    unordered, ordered = await session(bob, "p2p|alice"), await session(carol, "p2p|alice")
    assert unordered is not None
    assert ordered is not None
    assert unordered["lastMessageKind"] == "REVOKE_NOTIFICATION"
    revoke = unordered["lastRevokeNotification"]
    assert isinstance(revoke, dict)
    assert {**unordered, "lastRevokeNotification": {**revoke, "messageServerId": "n1"}} == ordered


async def test_a_team_recall_reaches_every_member(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient]
) -> None:
    await webhook.team("42", ["bob", "carol"])
    await webhook.ok(cc_message("t1", "alice", "42", T0, conv="TEAM"))
    await webhook.ok(cc_recall("t1", "alice", "42", T0 + 5, event_type=8))
    for account in ("alice", "bob", "carol"):
        found = await session(as_user(account), "team|42")
        assert found is not None
        assert found["lastMessageKind"] == "REVOKE_NOTIFICATION"


async def test_a_recall_replayed_changes_nothing(webhook: Webhook) -> None:
    await webhook.ok(cc_message("m1", "alice", "bob", T0))
    assert await webhook.ok(cc_recall("m1", "alice", "bob", T0 + 1)) == {"outcome": "applied"}
    assert await webhook.ok(cc_recall("m1", "alice", "bob", T0 + 1)) == {"outcome": "duplicate"}


async def test_a_message_after_a_deletion_brings_the_session_back_fresh(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", T0))
    await alice.ok(
        'mutation { updateSessionExt(input: {id: "p2p|bob", ext: "muted"}) { session { key } } }'
    )
    await alice.ok('mutation { deleteSessions(input: {ids: ["p2p|bob"]}) { deletedIds } }')

    await webhook.ok(cc_message("m0", "bob", "alice", T0 + 10))  # older than the deletion
    assert await session(alice, "p2p|bob") is None

    newer = T0 + 2 * 3_600_000  # the deletion happened at the server's now, T0 + 1 h
    await webhook.ok(cc_message("m2", "bob", "alice", newer))
    found = await session(alice, "p2p|bob")
    assert found is not None
    assert (found["serverExt"], found["lastMessageKind"]) == ("", "MESSAGE")
    assert await last_id(alice, "p2p|bob") == "m2"


SQLITE_BOOM = """CREATE TRIGGER boom BEFORE INSERT ON sessions WHEN NEW.owner = 'm050'
BEGIN SELECT RAISE(ABORT, 'disk full'); END;"""
POSTGRES_BOOM = """
CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.owner = 'm050' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$;
CREATE TRIGGER boom BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION boom();
"""


async def test_a_failure_mid_fan_out_applies_nothing(webhook: Webhook, settings: Settings) -> None:
    await webhook.team("42", [f"m{n:03}" for n in range(100)])
    # A real storage failure halfway through the team's fan-out.
    await raw_sql(settings, POSTGRES_BOOM if settings.uses_postgres() else SQLITE_BOOM)
    response = await webhook(cc_message("t1", "alice", "42", T0, conv="TEAM"))
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "disk" not in response.text
    assert await raw_sql(settings, "SELECT count(*) FROM sessions") == [(0,)]
    assert await raw_sql(settings, "SELECT count(*) FROM messages") == [(0,)]
    await raw_sql(settings, "DROP TRIGGER boom ON sessions" if settings.uses_postgres()
                  else "DROP TRIGGER boom")  # fmt: skip

    # NIM retries; now the whole fan-out lands.
    assert await webhook.ok(cc_message("t1", "alice", "42", T0, conv="TEAM")) == {
        "outcome": "applied"
    }
    assert await raw_sql(settings, "SELECT count(*) FROM sessions") == [(101,)]
