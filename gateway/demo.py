"""Realistic demo data: a few accounts with P2P and team sessions, long histories, recalls;
alice's conversation groups and a muted team.

The messages go in as NIM message-CC events through the same ingestion path as the webhook.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import orjson

from gateway.domain.groups import DEFAULT_LIMITS
from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.sessions import message_ref
from gateway.errors import BadUserInput
from gateway.ingest import Ingestor, Outcome
from gateway.store.base import SessionStore

ACCOUNTS = ["alice", "bob", "carol", "dave", "erin", "frank"]
TEAMS = {
    SessionKey(SessionType.TEAM, "1001"): ["alice", "bob", "carol"],
    SessionKey(SessionType.TEAM, "1002"): ["alice", "bob", "carol", "dave", "erin"],
    SessionKey(SessionType.SUPER_TEAM, "5001"): ACCOUNTS,
}
CUSTOMERS = [f"customer-{n:03}" for n in range(1, 121)]  # alice's list runs past one page
# alice's conversation groups (id, name, sessions) and the team she muted.
GROUPS = [
    ("work", "Work", ["team|1001", "team|1002", "p2p|bob", "p2p|carol", "p2p|dave"]),
    ("customers", "Customers", [f"p2p|{c}" for c in CUSTOMERS[:40]]),
]
MUTED = "super_team|5001"

_LINES = [
    "Are we still on for tomorrow?", "Sounds good 👍", "I pushed the fix, can you review?",
    "Running 5 minutes late", "Lunch?", "Can you send me the deck?", "Thanks!",
    "The build is green again", "Let's move the meeting to 3pm", "好的,收到", "明天见",
    "Where did you put the keys?", "Happy birthday! 🎂", "Call me when you're free",
]  # fmt: skip
_CONV_TYPES = {SessionType.TEAM: "TEAM", SessionType.SUPER_TEAM: "SUPER_TEAM"}
_DAY_MS = 86_400_000

Event = dict[str, object]


_LAST_EVENT = "demo-fresh-2"  # applied last: there only when a seed finished


@dataclass
class SeedSummary:
    messages: int = 0
    recalls: int = 0
    already_there: bool = False  # a seed finished before: nothing was done


async def seed(store: SessionStore, now: int, *, rng_seed: int = 7) -> SeedSummary:
    if await store.get_messages([message_ref("team|1001", _LAST_EVENT)]):
        return SeedSummary(already_there=True)
    # The teams' members as the registry knows them from before the oldest demo message (super
    # teams: NIM's stream does not list their members); team messages also carry tMembers.
    for team, members in TEAMS.items():
        await store.set_team_members(team, members, now - 90 * _DAY_MS)
    ingestor = Ingestor(store, lambda: now)
    summary = SeedSummary()
    for event in demo_events(now, rng_seed=rng_seed):
        if event["msgidServer" if "msgidServer" in event else "msgId"] == _LAST_EVENT:
            await _organize(store, now)  # before the event that says the seed finished
        _, outcome = await ingestor.apply_json(event)
        if outcome is Outcome.APPLIED:
            if event["eventType"] == 1:  # the others are recalls
                summary.messages += 1
            else:
                summary.recalls += 1
    return summary


async def _organize(store: SessionStore, now: int) -> None:
    """alice's groups and muted team (a group already there, from a seed cut short, stays)."""
    for group_id, name, keys in GROUPS:
        sessions = [SessionKey.parse(key) for key in keys]
        with contextlib.suppress(BadUserInput):
            await store.create_group("alice", group_id, name, "", sessions, now, DEFAULT_LIMITS)
    await store.set_muted("alice", [SessionKey.parse(MUTED)], True)


def demo_events(now: int, *, rng_seed: int = 7) -> list[Event]:
    """CC events for every demo conversation, in time order within each conversation."""
    rng = random.Random(rng_seed)
    conversations: list[tuple[list[str], SessionKey | None]] = []
    for i, a in enumerate(ACCOUNTS):
        conversations.extend(([a, b], None) for b in ACCOUNTS[i + 1 :])
    conversations.extend((["alice", customer], None) for customer in CUSTOMERS)
    conversations.extend((members, key) for key, members in TEAMS.items())

    events: list[Event] = []
    for n, (people, team) in enumerate(conversations):
        start = now - rng.randint(2, 60) * _DAY_MS
        times = sorted(rng.randint(start, now - 600_000) for _ in range(rng.randint(3, 40)))
        history = [
            _message(rng, f"demo-{n:04}-{m:03}", rng.choice(people), people, team, sent)
            for m, sent in enumerate(times)
        ]
        events.extend(history)
        if rng.random() < 0.15:  # some last messages were recalled
            last = history[-1]
            recalled_at = int(str(last["msgTimestamp"])) + rng.randint(1000, 60_000)
            events.append(_recall(last, recalled_at))
    # The freshest activity: a chat and a team thread alice sees at the top of her list.
    events.append(_text("demo-fresh-1", "bob", "alice", "PERSON", now - 120_000, "See you at 3?"))
    events.append(_text(_LAST_EVENT, "carol", "1001", "TEAM", now - 60_000, "Standup in 5"))
    return events


def _message(
    rng: random.Random,
    msgid: str,
    sender: str,
    people: list[str],
    team: SessionKey | None,
    sent: int,
) -> Event:
    if team is None:
        to, conv = next((p for p in people if p != sender), sender), "PERSON"
    else:
        to, conv = team.target, _CONV_TYPES[team.type]
    roll = rng.random()
    event = _text(msgid, sender, to, conv, sent, rng.choice(_LINES) if roll < 0.8 else None)
    if conv == "TEAM":
        event["tMembers"] = f"[{', '.join(people)}]"  # NIM's text form
    if roll < 0.8:
        return event
    if roll < 0.9:
        event["msgType"] = "PICTURE"
        event["attach"] = orjson.dumps({"name": "photo.jpg", "md5": f"{rng.getrandbits(128):032x}",
                                        "w": 1280, "h": 960, "size": rng.randint(50_000, 900_000),
                                        "ext": "jpg"}).decode()  # fmt: skip
    elif roll < 0.95:
        event["msgType"] = "LOCATION"
        event["attach"] = '{"title": "Office", "lat": 30.2741, "lng": 120.1551}'
    else:
        event["msgType"] = "CUSTOM"
        event["attach"] = '{"type": "sticker", "id": 42}'
        event["ext"] = '{"priority": "high"}'
    return event


def _text(msgid: str, sender: str, to: str, conv: str, sent: int, text: str | None) -> Event:
    return {
        "eventType": 1, "convType": conv, "to": to, "fromAccount": sender, "fromClientType": "IOS",
        "msgTimestamp": str(sent), "msgType": "TEXT", "body": text, "msgidClient": f"c-{msgid}",
        "msgidServer": msgid,
    }  # fmt: skip


def _recall(message: Event, at: int) -> Event:
    """NIM's recall: eventType 7 (P2P), 8 (team) or 25 (super team)."""
    event_types = {"PERSON": "7", "TEAM": "8", "SUPER_TEAM": "25"}
    return {
        "eventType": event_types[str(message["convType"])], "msgId": message["msgidServer"],
        "from": message["fromAccount"], "to": message["to"], "deleteTime": str(at),
        "sendTime": message["msgTimestamp"], "clientId": message["msgidClient"],
        "fromClientType": "IOS", "selfMsg": "",
    }  # fmt: skip
