"""NIM's real CC stream (../shared/nim/cc-samples/, NIM's exact shapes): recalls, system
notifications, refused messages, call records and team membership learned from the stream, in any
arrival order."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.domain.checksum import sign
from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.pages import PageQuery, TimeWindow
from gateway.domain.sessions import LastMessageKind
from gateway.ingest import Ingestor
from gateway.settings import Settings
from gateway.store.base import SessionStore
from tests.conftest import Clock, Webhook
from tests.helpers import APP_SECRET, SECRET, GraphQLClient, cc_message, cc_recall
from tests.helpers import bearer_token as token
from tests.process import free_tcp_port, gateway

SAMPLES_DIR = Path(__file__).parent / "data" / "nim-cc-samples"  # ../shared/nim/cc-samples
SAMPLES = [orjson.loads(p.read_bytes()) for p in sorted(SAMPLES_DIR.glob("*.json"))]
ACCOUNTS = ["alice", "bob", "carol", "dave"]

LIST = """{ sessions(first: 50) { edges { node {
  key unreadCount lastMessageKind lastMessage { serverId type }
  lastRevokeNotification { messageServerId operator postscript } } } } }"""

REVOKED_09 = ("REVOKE_NOTIFICATION", "9000000009", "dave", None)
# What the seventeen samples leave, whatever the order: key -> (kind, last message, type or
# recall operator, unread).
EXPECTED: dict[str, dict[str, tuple[str, str, str | None, int]]] = {
    "alice": {
        "p2p|bob": ("MESSAGE", "9000000013", "NRTC_NETCALL", 1),
        "team|2001": ("MESSAGE", "9000000007", "NOTIFICATION", 1),
        "super_team|3001": (*REVOKED_09[:3], 0),
    },
    "bob": {
        "p2p|alice": ("MESSAGE", "9000000013", "NRTC_NETCALL", 0),
        "team|2001": ("MESSAGE", "9000000006", "NOTIFICATION", 0),
        "super_team|3001": (*REVOKED_09[:3], 0),
    },
    "carol": {"team|2001": ("MESSAGE", "9000000004", "NOTIFICATION", 1)},
    "dave": {"super_team|3001": (*REVOKED_09[:3], 0)},
}
EXPECTED_MEMBERS = {"team|2001": [], "super_team|3001": ["alice", "bob", "dave"]}

ORDER = "{ sessions(first: 50) { edges { node { key updateTime } } } }"
S = 1_795_000_000_000  # the samples' first msgTimestamp
NOW = 1_796_000_000_000  # the server's clock: after every event of this module
# Each list, newest first, as time order leaves it: updateTime is the time of what is last (the
# last message's msgTimestamp, or the deleteTime of the recall that revoked it). The team recall
# (15) is of a message that is no longer last for anyone, so it moves no session.
EXPECTED_ORDER = {
    "alice": [("super_team|3001", S + 15_000), ("p2p|bob", S + 12_000), ("team|2001", S + 6_000)],
    "bob": [("super_team|3001", S + 15_000), ("p2p|alice", S + 12_000), ("team|2001", S + 5_000)],
    "carol": [("team|2001", S + 3_000)],
    "dave": [("super_team|3001", S + 15_000)],
}


@pytest.fixture
def clock() -> Clock:
    """The server's clock, after the samples: none of their times is ahead of it."""
    return Clock(NOW)


def test_the_samples_are_nims_seventeen() -> None:
    assert len(SAMPLES) == 17
    recalls = [s for s in SAMPLES if s["eventType"] in ("7", "8", "25")]
    assert len(recalls) == 3
    assert not any({"deleteMsgid", "fromAccount", "msgidServer"} & set(s) for s in recalls)


def _summary(data: Any) -> dict[str, tuple[str, str, str | None, int]]:
    lists: dict[str, tuple[str, str, str | None, int]] = {}
    for edge in data["sessions"]["edges"]:
        node = edge["node"]
        revoke = node["lastRevokeNotification"]
        if revoke is not None:
            lists[node["key"]] = ("REVOKE_NOTIFICATION", revoke["messageServerId"],
                                  revoke["operator"], node["unreadCount"])  # fmt: skip
        else:
            message = node["lastMessage"]
            lists[node["key"]] = (node["lastMessageKind"], message["serverId"], message["type"],
                                  node["unreadCount"])  # fmt: skip
    return lists


async def _lists(as_user: Callable[[str], GraphQLClient]) -> dict[str, Any]:
    return {account: _summary(await as_user(account).ok(LIST)) for account in ACCOUNTS}


async def _order(as_user: Callable[[str], GraphQLClient]) -> dict[str, list[tuple[str, int]]]:
    found = {}
    for account in ACCOUNTS:
        edges = (await as_user(account).ok(ORDER))["sessions"]["edges"]
        found[account] = [(e["node"]["key"], _ms(e["node"]["updateTime"])) for e in edges]
    return found


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


async def _members(webhook: Webhook) -> dict[str, list[str]]:
    found = {}
    for key in EXPECTED_MEMBERS:
        kind, tid = key.split("|")
        response = await webhook(b"", f"/nim/teams/{tid}/members?type={kind.upper()}",
                                 method="GET")  # fmt: skip
        found[key] = response.json()["members"]
    return found


async def _post_all(webhook: Webhook, events: list[dict[str, Any]]) -> None:
    for event in events:
        response = await webhook(event)
        assert response.status_code == 200, (event, response.text)


async def test_the_samples_in_file_order_leave_nims_lists(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient]
) -> None:
    await _post_all(webhook, SAMPLES)
    assert await _lists(as_user) == EXPECTED
    assert await _order(as_user) == EXPECTED_ORDER
    assert await _members(webhook) == EXPECTED_MEMBERS


async def test_the_samples_in_reverse_order_leave_the_same_lists(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient]
) -> None:
    await _post_all(webhook, SAMPLES[::-1])
    assert await _lists(as_user) == EXPECTED
    assert await _order(as_user) == EXPECTED_ORDER
    assert await _members(webhook) == EXPECTED_MEMBERS


@pytest.mark.parametrize("seed", range(1, 9))
async def test_the_samples_shuffled_and_sent_twice_leave_the_same_lists(
    seed: int, webhook: Webhook, as_user: Callable[[str], GraphQLClient]
) -> None:
    events = SAMPLES * 2
    random.Random(seed).shuffle(events)
    await _post_all(webhook, events)
    assert await _lists(as_user) == EXPECTED
    assert await _order(as_user) == EXPECTED_ORDER
    assert await _members(webhook) == EXPECTED_MEMBERS


async def test_a_team_recall_arriving_while_its_message_is_last_does_not_outlast_newer_messages(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient]
) -> None:
    """The recall of 05 comes while 05 is alice's and bob's last message; 06 and 07, sent before
    the recall but arriving after it, replace it and their own times become the update times."""
    await _post_all(webhook, [*SAMPLES[:5], SAMPLES[14], *SAMPLES[5:14], *SAMPLES[15:]])
    assert await _lists(as_user) == EXPECTED
    assert await _order(as_user) == EXPECTED_ORDER


async def test_system_notifications_refused_and_login_events_are_counted_not_stored(
    webhook: Webhook, http: httpx.AsyncClient, as_user: Callable[[str], GraphQLClient]
) -> None:
    for sample in (SAMPLES[9], SAMPLES[10], SAMPLES[11], SAMPLES[16]):
        assert (await webhook.ok(sample))["outcome"] == "ignored"
    assert all(not lists for lists in (await _lists(as_user)).values())
    assert await _members(webhook) == {"team|2001": [], "super_team|3001": []}
    metrics = (await http.get("/metrics")).text
    for labels in (
        'msg_type="FRIEND_ADD",reason="system_notification"',
        'msg_type="TEAM_INVITE",reason="system_notification"',
        'msg_type="TEXT",reason="blocked"',
    ):
        assert f"gateway_webhook_skipped_messages_total{{{labels}}} 1.0" in metrics


async def test_an_unknown_conv_type_is_acknowledged_and_counted(
    webhook: Webhook, http: httpx.AsyncClient, as_user: Callable[[str], GraphQLClient]
) -> None:
    for conv_type in ("CUSTOM_SUPER_TEAM", "CHATROOM_SOMETHING"):
        event = {**SAMPLES[0], "convType": conv_type, "msgidServer": f"x-{conv_type}"}
        assert (await webhook.ok(event))["outcome"] == "ignored"
    assert (await as_user("bob").ok(LIST))["sessions"]["edges"] == []
    metrics = (await http.get("/metrics")).text
    assert 'msg_type="CUSTOM_SUPER_TEAM",reason="unknown_conv_type"} 1.0' in metrics
    assert 'msg_type="other",reason="unknown_conv_type"} 1.0' in metrics


async def test_antispam_alone_does_not_block(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient]
) -> None:
    await webhook.ok({**SAMPLES[0], "antispam": "true", "yidunRes": "{}"})
    assert _summary(await as_user("bob").ok(LIST)) == {
        "p2p|alice": ("MESSAGE", "9000000001", "TEXT", 1)
    }


async def test_recall_numbers_arrive_as_strings_or_numbers(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient]
) -> None:
    await webhook.ok(SAMPLES[0])
    recall = {**SAMPLES[13], "eventType": 7, "deleteTime": 1795000013000,
              "sendTime": 1795000000000, "msgId": 9000000001}  # fmt: skip
    await webhook.ok(recall)
    bob = _summary(await as_user("bob").ok(LIST))
    assert bob == {"p2p|alice": ("REVOKE_NOTIFICATION", "9000000001", "alice", 0)}


async def test_a_recall_without_msg_id_is_kept_as_a_dead_letter_naming_the_field(
    webhook: Webhook,
) -> None:
    recall = {k: v for k, v in SAMPLES[13].items() if k != "msgId"}
    answer = await webhook.ok(recall)
    assert answer["outcome"] == "dead_letter"
    assert answer["error"]["code"] == "MISSING_FIELD"
    assert "msgId" in answer["error"]["message"]


def _gateway_env(settings: Settings) -> dict[str, str]:
    return {"GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_JWT_SECRET": SECRET,
            "GATEWAY_NIM_APP_SECRET": APP_SECRET}  # fmt: skip


async def test_a_real_gateway_fed_the_samples_in_file_order(settings: Settings) -> None:
    port = free_tcp_port()
    with gateway("serve", "--port", str(port), env=_gateway_env(settings)) as server:
        server.wait_for("Uvicorn running")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for sample in SAMPLES:
                body = orjson.dumps(sample)
                headers = sign(APP_SECRET, body, int(time.time() * 1000))
                response = await http.post("/nim/cc", content=body, headers=headers)
                assert response.status_code == 200, response.text
            lists = {}
            for account in ACCOUNTS:
                headers = {"Authorization": f"Bearer {token(account)}"}
                response = await http.post("/graphql", json={"query": LIST}, headers=headers)
                lists[account] = _summary(response.json()["data"])
    assert lists == EXPECTED


# A property: any arrival order of one team's history gives what its time order implies ----------


def _team_history(rng: random.Random, tid: str, people: list[str]) -> tuple[
    list[dict[str, Any]], dict[str, tuple[str | None, int]], list[str]
]:  # fmt: skip
    """Events of one team in time order, and what a plain walk in that order implies: each
    account's (last message, unread) and the members at the end."""
    members = {people[0]}
    last: dict[str, str | None] = dict.fromkeys(people)
    unread = dict.fromkeys(people, 0)
    events: list[dict[str, Any]] = []
    for n in range(rng.randint(4, 18)):
        msgid, sent = f"{tid}-{n:03}", 1_795_100_000_000 + n * 1000
        outsiders = [p for p in people if p not in members]
        roll = rng.random()
        sender = rng.choice(sorted(members))
        event: dict[str, Any] = {
            "eventType": "1", "convType": "TEAM", "to": tid, "fromAccount": sender,
            "msgTimestamp": str(sent), "msgidServer": msgid, "msgType": "NOTIFICATION",
        }  # fmt: skip
        if roll < 0.25 and outsiders:
            joining = rng.sample(outsiders, rng.randint(1, len(outsiders)))
            event["attach"] = orjson.dumps({"id": 0, "data": {"ids": joining}}).decode()
            receivers = members | set(joining)
            after = members | set(joining)
        elif roll < 0.35 and outsiders:
            sender = rng.choice(outsiders)
            event.update(fromAccount=sender, attach={"id": 9, "data": {"id": people[0]}})
            receivers = after = members | {sender}
        elif roll < 0.5 and len(members) > 1:
            kicked = rng.sample(sorted(members - {sender}), 1)
            event["attach"] = {"id": 1, "data": {"ids": kicked}}
            receivers, after = set(members), members - set(kicked)
        elif roll < 0.6 and len(members) > 1:
            event["attach"] = '{"id": 2, "data": {}}'
            receivers, after = set(members), members - {sender}
        else:
            event.update(msgType="TEXT", body=f"text {n}")
            receivers = after = set(members)
        if rng.random() < 0.7:  # NIM lists the members on most team messages
            listed = receivers if event["msgType"] == "NOTIFICATION" else after
            event["tMembers"] = f"[{', '.join(sorted(listed))}]"
        for account in receivers:
            last[account] = msgid
            if event["msgType"] == "TEXT" and account != sender:
                unread[account] += 1
        members = after
        events.append(event)
    implied = {p: (last[p], unread[p]) for p in people}
    return events, implied, sorted(members)


@pytest.mark.parametrize("seed", range(10))
async def test_any_arrival_order_of_a_team_gives_what_time_order_implies(
    seed: int, store: SessionStore
) -> None:
    ingestor = Ingestor(store, lambda: NOW)
    for trial in range(10):
        rng = random.Random(seed * 100 + trial)
        tid = f"7{seed}{trial:02}"
        people = [f"p{tid}-{n}" for n in range(5)]
        events, implied, members = _team_history(rng, tid, people)
        arrival = events + rng.sample(events, rng.randint(0, len(events)))
        rng.shuffle(arrival)
        for event in arrival:
            await ingestor.apply_json(event)
        key = SessionKey(SessionType.TEAM, tid)
        found, times = {}, {}
        for person in people:
            sessions = await store.get_sessions(person, [key])
            found[person] = (
                (sessions[0].last_message_id, sessions[0].unread_count) if sessions else (None, 0)
            )
            times[person] = sessions[0].update_time if sessions else None
        assert (found, await store.team_members(key)) == (implied, members), (tid, arrival)
        sent = {e["msgidServer"]: int(e["msgTimestamp"]) for e in events}
        assert times == {p: last and sent[last] for p, (last, _) in implied.items()}


# Every arrival order of a small history, each event twice, gives one list, update times included


def _small_history(n: int) -> list[dict[str, Any]]:
    """A P2P and a team conversation of trial ``n`` (names suffixed with it), each with an older
    message recalled after a newer one was sent; the team has a late joiner, and its newest
    message does not list the members (it reaches them as the team's history says)."""
    a, b, c, tid, t = f"a{n}", f"b{n}", f"c{n}", f"6{n:03}", 1_795_200_000_000
    members = f"[{a}, {b}]"
    return [
        cc_message(f"{n}-p1", a, b, t + 1),
        cc_message(f"{n}-p2", b, a, t + 5),
        cc_recall(f"{n}-p1", a, b, t + 10, sent=t + 1),
        {**cc_message(f"{n}-t1", a, tid, t + 1, conv="TEAM"), "tMembers": members},
        {**cc_message(f"{n}-t2", a, tid, t + 3, conv="TEAM"), "msgType": "NOTIFICATION",
         "attach": {"id": 0, "data": {"ids": [c]}}, "tMembers": f"[{a}, {b}, {c}]"},
        cc_message(f"{n}-t3", b, tid, t + 5, conv="TEAM"),
        cc_recall(f"{n}-t1", a, tid, t + 10, event_type=8, sent=t + 1),
    ]  # fmt: skip


# key, update time, last message kind, last message, revoke time, unread, ext
Entry = tuple[str, int, LastMessageKind | None, str, int | None, int, str]


async def _full_lists(store: SessionStore, n: int) -> list[list[Entry]]:
    """Each account's whole list, in order, with the trial's suffixes taken out."""
    found = []
    for account in (f"a{n}", f"b{n}", f"c{n}"):
        page = await store.list_sessions(account, PageQuery(TimeWindow()))
        found.append([
            (str(s.key).replace(f"|6{n:03}", "|team").removesuffix(str(n)), s.update_time,
             s.last_message_kind, (s.last_message_id or "").removeprefix(f"{n}-"),
             s.revoke.time if s.revoke else None, s.unread_count, s.server_ext)
            for s in page.sessions
        ])  # fmt: skip
    return found


@pytest.mark.parametrize("part", ["p2p", "team"])
async def test_every_arrival_order_of_a_small_history_gives_one_list(
    part: str, store: SessionStore
) -> None:
    ingestor = Ingestor(store, lambda: NOW)
    chosen = range(3) if part == "p2p" else range(3, 7)
    lists = {}
    for n, order in enumerate(itertools.permutations(chosen)):
        events = _small_history(n)
        arrival = [events[i] for i in order]
        arrival += random.Random(n).sample(arrival, len(arrival))  # each delivered twice
        for event in arrival:
            await ingestor.apply_json(event)
        lists[order] = await _full_lists(store, n)
    first, *_ = lists.values()
    assert all(found == first for found in lists.values()), lists
    t, message = 1_795_200_000_000, LastMessageKind.MESSAGE
    if part == "p2p":  # p1's recall comes after p2 was sent: it moves nothing
        assert first == [[("p2p|b", t + 5, message, "p2", None, 1, "")],
                         [("p2p|a", t + 5, message, "p2", None, 0, "")], []]  # fmt: skip
    else:  # t1's recall, too, comes after newer messages were sent
        assert first == [[("team|team", t + 5, message, "t3", None, 1, "")],
                         [("team|team", t + 5, message, "t3", None, 0, "")],
                         [("team|team", t + 5, message, "t3", None, 1, "")]]  # fmt: skip


async def test_a_message_arriving_late_without_news_of_members_rebuilds_nothing(
    store: SessionStore, statements: list[str]
) -> None:
    """Busy teams' messages often arrive a moment out of order: that costs one delivery per
    recipient, never a rebuild from the team's history."""
    ingestor = Ingestor(store, lambda: NOW)

    def text(n: int) -> dict[str, Any]:
        return {"eventType": "1", "convType": "TEAM", "to": "8001", "fromAccount": "alice",
                "msgTimestamp": str(1_795_000_000_000 + n), "msgidServer": f"late-{n:03}",
                "msgType": "TEXT", "body": "x", "tMembers": "[alice, bob, carol]"}  # fmt: skip

    for n in range(0, 40, 2):
        await ingestor.apply_json(text(n))
    statements.clear()
    await ingestor.apply_json(text(21))  # between two messages already in
    assert not [s for s in statements if "LEFT JOIN revocations" in s]
    [bob] = await store.get_sessions("bob", [SessionKey(SessionType.TEAM, "8001")])
    assert (bob.last_message_id, bob.unread_count) == ("late-038", 21)


@pytest.mark.parametrize(
    "listed", ['["alice", "bob", "carol"]', ["alice", "bob", "carol"], "[alice, bob, carol]"]
)
async def test_t_members_in_each_form_nim_sends_names_the_same_members(
    listed: object, webhook: Webhook
) -> None:
    await webhook.ok({**SAMPLES[2], "tMembers": listed})
    assert (await _members(webhook))["team|2001"] == ["alice", "bob", "carol"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tMembers", "[]x"), ("tMembers", "[alice, b ob]"), ("tMembers", [1.5, 2]),
        ("tMembers", "[" + ", ".join(f"u{n}" for n in range(10_001)) + "]"),
        ("attach", "{not json"), ("attach", {"id": "kick", "data": {"ids": ["carol"]}}),
        ("attach", {"id": 1, "data": {"ids": [None]}}), ("attach", {"id": "9" * 30}),
    ],
)  # fmt: skip
async def test_a_team_message_with_unreadable_members_is_kept_and_counted(
    field: str, value: object, webhook: Webhook, http: httpx.AsyncClient, alice: GraphQLClient
) -> None:
    """NIM would resend such a payload forever if it were refused: the message is kept, and what
    the field would have said of the members is left out."""
    event = {**SAMPLES[3], field: value}  # a kick notification from alice
    assert (await webhook.ok(event))["outcome"] == "applied"
    assert _summary(await alice.ok(LIST))["team|2001"][:2] == ("MESSAGE", "9000000004")
    metrics = (await http.get("/metrics")).text
    assert f'gateway_webhook_unusable_fields_total{{field="{field}"}} 1.0' in metrics


async def test_a_late_kick_rebuilds_from_where_it_happened_not_from_the_start(
    store: SessionStore, statements: list[str]
) -> None:
    """The work of a late membership change grows with how late it is: a kick two messages late
    reads the messages from the kick on, not the team's whole history."""
    ingestor = Ingestor(store, lambda: NOW)
    people = ["alice", "bob", "carol"]

    def text(n: int, listed: list[str]) -> dict[str, Any]:
        return {"eventType": "1", "convType": "TEAM", "to": "8002", "fromAccount": "alice",
                "msgTimestamp": str(1_795_000_000_000 + n * 10), "msgidServer": f"k-{n:03}",
                "msgType": "TEXT", "body": "x", "tMembers": f"[{', '.join(listed)}]"}  # fmt: skip

    for n in range(40):
        await ingestor.apply_json(text(n, people if n < 38 else people[:2]))
    statements.clear()
    kick = {**text(0, people), "msgTimestamp": str(1_795_000_000_000 + 375), "msgidServer": "kick",
            "msgType": "NOTIFICATION", "attach": {"id": 1, "data": {"ids": ["carol"]}}}  # fmt: skip
    await ingestor.apply_json(kick)
    history_reads = [s for s in statements if "LEFT JOIN revocations" in s]
    assert history_reads
    assert all("m.time, m.order_key) >=" in s for s in history_reads)
    [carol] = await store.get_sessions("carol", [SessionKey(SessionType.TEAM, "8002")])
    assert (carol.last_message_id, carol.unread_count) == ("kick", 38)


@pytest.mark.parametrize(
    ("wrong", "outcome"),
    [
        # Another conversation, where a message 09 may yet arrive: kept for it.
        ({"eventType": "8"}, "applied"),  # a team recall: team|3001 is not super_team|3001
        ({"to": "3002"}, "applied"),  # another super team
        ({"eventType": "7", "to": "bob"}, "applied"),  # a P2P recall
        ({"from": "alice"}, "ignored"),  # not the sender of 09
    ],
)
async def test_a_recall_naming_another_chat_changes_nothing_here_and_the_real_one_still_applies(
    wrong: dict[str, str],
    outcome: str,
    webhook: Webhook,
    as_user: Callable[[str], GraphQLClient],
) -> None:
    for sample in SAMPLES[7:9]:  # the super team's invite, then dave's picture
        await webhook.ok(sample)
    assert (await webhook.ok({**SAMPLES[15], **wrong}))["outcome"] == outcome
    assert _summary(await as_user("alice").ok(LIST))["super_team|3001"][:2] == (
        "MESSAGE",
        "9000000009",
    )
    assert (await webhook.ok(SAMPLES[15]))["outcome"] == "applied"
    assert _summary(await as_user("alice").ok(LIST))["super_team|3001"] == (*REVOKED_09[:3], 0)
