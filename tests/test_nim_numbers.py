"""NIM's numeric accounts and ids (issue 23): account and team ids are text however they are sent,
events of one millisecond order by msgidServer as a number, and a message id is unique within its
conversation only. The payloads of ../shared/nim/cc-samples-numeric/ give its README's table in
any order."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.pages import PageQuery, TimeWindow
from gateway.domain.sessions import LastMessageKind
from gateway.store.base import SessionStore
from tests.conftest import Clock, Webhook
from tests.helpers import T0, cc_message, cc_recall

NUMERIC_DIR = Path(__file__).parent / "data" / "nim-cc-samples-numeric"  # shared/nim/...
NUMERIC = [orjson.loads(p.read_bytes()) for p in sorted(NUMERIC_DIR.glob("*.json"))]
TEAM_3001 = SessionKey(SessionType.TEAM, "3001")
# The README's table: account -> session -> (last message, unread).
NUMERIC_LISTS = {
    "10001": {"team|3001": ("10000", 1), "p2p|0123": ("10001", 1)},
    "10002": {"team|3001": ("10000", 1)},
    "0123": {"team|3001": ("10000", 2), "p2p|10001": ("10001", 0)},
}


@pytest.fixture
def clock() -> Clock:
    """The server's clock, after the numeric samples: no time sent is ahead of it."""
    return Clock(1_796_000_000_000)


def team(tid: str, kind: SessionType = SessionType.TEAM) -> SessionKey:
    return SessionKey(kind, tid)


def team_message(msgid: str, sender: Any, tid: Any, time: int, **fields: Any) -> dict[str, Any]:
    return {**cc_message(msgid, "x", "x", time, conv="TEAM"), "fromAccount": sender, "to": tid,
            **fields}  # fmt: skip


async def lists_of(store: SessionStore, accounts: list[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for account in accounts:
        page = await store.list_sessions(account, PageQuery(TimeWindow()))
        found[account] = {str(s.key): (s.last_message_id, s.unread_count) for s in page.sessions}
    return found


# -- cc-samples-numeric ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
async def test_the_numeric_samples_in_any_order_give_the_readmes_table(
    order: tuple[int, ...], webhook: Webhook, store: SessionStore
) -> None:
    assert (NUMERIC[0]["to"], NUMERIC[1]["fromAccount"]) == (3001, 10002)  # JSON numbers
    events = [NUMERIC[i] for i in order]
    events += random.Random(str(order)).sample(events, 2)  # some twice
    for event in events:
        assert (await webhook.ok(event))["outcome"] in {"applied", "duplicate"}
    assert await lists_of(store, list(NUMERIC_LISTS)) == NUMERIC_LISTS
    assert await store.team_members(TEAM_3001) == ["0123", "10001", "10002"]
    assert await lists_of(store, ["123"]) == {"123": {}}


# -- 1. numeric account ids in tMembers -----------------------------------------------------------

ACCOUNTS = ["123", "1234567890123456789", "456"]


@pytest.mark.parametrize(
    "listed",
    ["[123, 456, 1234567890123456789]", [123, 456, 1234567890123456789]],
    ids=["nim-text", "json-array-of-numbers"],
)
async def test_numeric_accounts_in_t_members_receive_team_messages(
    listed: object, webhook: Webhook, store: SessionStore
) -> None:
    await webhook.ok(team_message("5001", "123", "42", T0, tMembers=listed))
    assert await store.team_members(team("42")) == sorted(ACCOUNTS)
    for account in ACCOUNTS:
        [found] = await store.get_sessions(account, [team("42")])
        assert (found.last_message_id, found.unread_count) == ("5001", int(account != "123"))


async def test_nims_own_example_names_accounts_123_and_456(
    webhook: Webhook, store: SessionStore
) -> None:
    await webhook.ok(team_message("7", "123", "42", T0, tMembers="[123, 456]"))
    assert await store.team_members(team("42")) == ["123", "456"]
    [found] = await store.get_sessions("456", [team("42")])
    assert (found.last_message_id, found.unread_count) == ("7", 1)


async def test_notification_ids_as_numbers_are_accounts(
    webhook: Webhook, store: SessionStore
) -> None:
    invite = team_message("1", 100, 42, T0, msgType="NOTIFICATION",
                          attach={"id": 401, "data": {"ids": [200, "0300"]}})  # fmt: skip
    accepted = team_message("2", 100, 42, T0 + 1, msgType="NOTIFICATION",
                            attach={"id": 410, "data": {"id": 400}})  # fmt: skip
    for event in (invite, accepted):
        assert (await webhook.ok({**event, "convType": "SUPER_TEAM"}))["outcome"] == "applied"
    members = await store.team_members(team("42", SessionType.SUPER_TEAM))
    assert members == ["0300", "100", "200", "400"]


# -- 2. to and fromAccount as JSON numbers --------------------------------------------------------


@pytest.mark.parametrize("conv", ["PERSON", "TEAM", "SUPER_TEAM"])
async def test_to_and_from_account_as_json_numbers_are_their_decimal_text(
    conv: str, webhook: Webhook, store: SessionStore
) -> None:
    event = {**cc_message("9", "x", "x", T0, conv=conv), "fromAccount": 10001, "to": 3001}
    if conv == "TEAM":
        event["tMembers"] = "[10001, 3002]"
    assert await webhook.ok(event) == {"outcome": "applied"}
    kind = {"PERSON": SessionType.P2P, "TEAM": SessionType.TEAM}.get(conv, SessionType.SUPER_TEAM)
    [found] = await store.get_sessions("10001", [SessionKey(kind, "3001")])
    assert found.last_message_id == "9"


async def test_a_recall_naming_accounts_as_json_numbers_applies(
    webhook: Webhook, store: SessionStore
) -> None:
    await webhook.ok(team_message("9", "10001", "3001", T0, tMembers="[10001, 10002]"))
    recall = {**cc_recall("9", "x", "x", T0 + 5, event_type=8, sent=T0), "from": 10001,
              "to": 3001, "msgId": 9}  # fmt: skip
    assert await webhook.ok(recall) == {"outcome": "applied"}
    [found] = await store.get_sessions("10002", [team("3001")])
    assert (found.last_message_kind, found.unread_count) == (LastMessageKind.REVOKE_NOTIFICATION, 0)
    p2p = {**cc_message("8", "x", "x", T0), "fromAccount": 10001, "to": 10002}
    await webhook.ok(p2p)
    p2p_recall = {**cc_recall("8", "x", "x", T0 + 5, sent=T0), "from": 10001, "to": 10002}
    assert await webhook.ok(p2p_recall) == {"outcome": "applied"}
    [found] = await store.get_sessions("10002", [SessionKey(SessionType.P2P, "10001")])
    assert found.last_message_kind is LastMessageKind.REVOKE_NOTIFICATION


# -- 3. ties in one millisecond: msgidServer as a number ------------------------------------------


@pytest.mark.parametrize("first", ["999", "1000"])
async def test_in_one_millisecond_id_1000_comes_after_999(
    first: str, webhook: Webhook, store: SessionStore
) -> None:
    for msgid in (first, "1000" if first == "999" else "999"):
        await webhook.ok(cc_message(msgid, "alice", "bob", T0))
        await webhook.ok(team_message(msgid, "alice", "42", T0, tMembers="[alice, bob]"))
    for key in (SessionKey(SessionType.P2P, "alice"), team("42")):
        [found] = await store.get_sessions("bob", [key])
        assert (found.last_message_id, found.unread_count) == ("1000", 2)


@pytest.mark.parametrize("kick_first", [True, False])
async def test_a_message_sent_in_the_millisecond_of_a_kick_with_a_shorter_id_reaches_the_kicked(
    kick_first: bool, webhook: Webhook, store: SessionStore
) -> None:
    """…8999 comes before …81000 (as text it would come after, and never reach carol)."""
    invite = team_message("70000", "alice", "42", T0, msgType="NOTIFICATION",
                          attach={"id": 0, "data": {"ids": ["bob", "carol"]}})  # fmt: skip
    kick = team_message("81000", "alice", "42", T0 + 10, msgType="NOTIFICATION",
                        attach={"id": 1, "data": {"ids": ["carol"]}})  # fmt: skip
    text = team_message("8999", "bob", "42", T0 + 10)
    for event in (invite, kick, text) if kick_first else (invite, text, kick):
        assert (await webhook.ok(event))["outcome"] == "applied"
    [carol] = await store.get_sessions("carol", [team("42")])
    assert (carol.last_message_id, carol.unread_count) == ("81000", 1)
    assert await store.team_members(team("42")) == ["alice", "bob"]


async def test_two_membership_lists_of_one_millisecond_the_larger_id_is_the_later(
    webhook: Webhook, store: SessionStore
) -> None:
    await webhook.ok(team_message("10000", "a", "42", T0, tMembers="[a, b]"))
    await webhook.ok(team_message("9999", "a", "42", T0, tMembers="[a, b, c]"))
    assert await store.team_members(team("42")) == ["a", "b"]


# -- 4. one msgidServer in two conversations ------------------------------------------------------


async def test_one_id_in_two_conversations_is_two_messages(
    webhook: Webhook, store: SessionStore
) -> None:
    await webhook.ok(cc_message("5", "alice", "bob", T0, text="to bob"))
    second = await webhook.ok(cc_message("5", "alice", "carol", T0 + 1, text="to carol"))
    assert second == {"outcome": "applied"}
    third = await webhook.ok(team_message("5", "alice", "42", T0 + 2, tMembers="[alice, carol]"))
    assert third == {"outcome": "applied"}
    assert await webhook.ok(cc_message("5", "alice", "carol", T0 + 1)) == {"outcome": "duplicate"}
    # Each session shows its own conversation's message 5, in a page and read alone.
    page = await store.list_sessions("carol", PageQuery(TimeWindow()), with_last_messages=True)
    texts = {
        str(s.key): m and m.text for s, m in zip(page.sessions, page.last_messages, strict=True)
    }
    assert texts == {"team|42": "hi", "p2p|alice": "to carol"}
    [bobs] = await store.get_sessions("bob", [SessionKey(SessionType.P2P, "alice")])
    messages = await store.get_messages([bobs.last_message_ref or ""])
    assert [m.text for m in messages.values()] == ["to bob"]


async def test_a_recall_names_its_conversation(webhook: Webhook, store: SessionStore) -> None:
    await webhook.ok(cc_message("5", "alice", "bob", T0))
    await webhook.ok(cc_message("5", "alice", "carol", T0 + 1))
    assert await webhook.ok(cc_recall("5", "alice", "carol", T0 + 9)) == {"outcome": "applied"}
    [carols] = await store.get_sessions("carol", [SessionKey(SessionType.P2P, "alice")])
    [bobs] = await store.get_sessions("bob", [SessionKey(SessionType.P2P, "alice")])
    assert carols.last_message_kind is LastMessageKind.REVOKE_NOTIFICATION
    assert (bobs.last_message_kind, bobs.unread_count) == (LastMessageKind.MESSAGE, 1)
    # The other conversation's recall of its own 5 still applies once.
    assert await webhook.ok(cc_recall("5", "alice", "bob", T0 + 9)) == {"outcome": "applied"}
    assert await webhook.ok(cc_recall("5", "alice", "bob", T0 + 9)) == {"outcome": "duplicate"}
    [bobs] = await store.get_sessions("bob", [SessionKey(SessionType.P2P, "alice")])
    assert (bobs.last_message_kind, bobs.unread_count) == (LastMessageKind.REVOKE_NOTIFICATION, 0)


async def test_a_recall_that_comes_first_waits_in_its_own_conversation(
    webhook: Webhook, store: SessionStore
) -> None:
    await webhook.ok(cc_recall("5", "alice", "carol", T0 + 9, sent=T0 + 1))
    await webhook.ok(cc_message("5", "alice", "bob", T0))
    await webhook.ok(team_message("5", "alice", "42", T0, tMembers="[alice, bob]"))
    await webhook.ok(cc_message("5", "alice", "carol", T0 + 1))
    [bobs_p2p, bobs_team] = await store.get_sessions(
        "bob", [SessionKey(SessionType.P2P, "alice"), team("42")]
    )
    [carols] = await store.get_sessions("carol", [SessionKey(SessionType.P2P, "alice")])
    assert bobs_p2p.last_message_kind is LastMessageKind.MESSAGE
    assert bobs_team.last_message_kind is LastMessageKind.MESSAGE
    assert carols.last_message_kind is LastMessageKind.REVOKE_NOTIFICATION


async def test_registry_members_as_json_numbers_are_their_decimal_text(
    webhook: Webhook, store: SessionStore
) -> None:
    path = "/nim/teams/42/members"
    answer = await webhook.ok(
        {"type": "TEAM", "members": [123, "0123", 10**18]}, path, method="PUT"
    )
    assert answer == {"team": "team|42", "count": 3}
    assert await store.team_members(team("42")) == ["0123", "1000000000000000000", "123"]
