"""Realistic demo data: a few accounts with P2P and team sessions, long histories, recalls."""

from __future__ import annotations

import random
from dataclasses import dataclass

import orjson

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.sessions import Delivery, Message, MessageType, RevokeNotification
from gateway.store.base import SessionStore

ACCOUNTS = ["alice", "bob", "carol", "dave", "erin", "frank"]
TEAMS = {
    SessionKey(SessionType.TEAM, "1001"): ["alice", "bob", "carol"],
    SessionKey(SessionType.TEAM, "1002"): ["alice", "bob", "carol", "dave", "erin"],
    SessionKey(SessionType.SUPER_TEAM, "5001"): ACCOUNTS,
}
CUSTOMERS = [f"customer-{n:03}" for n in range(1, 121)]  # alice's list runs past one page

_LINES = [
    "Are we still on for tomorrow?", "Sounds good 👍", "I pushed the fix, can you review?",
    "Running 5 minutes late", "Lunch?", "Can you send me the deck?", "Thanks!",
    "The build is green again", "Let's move the meeting to 3pm", "好的,收到", "明天见",
    "Where did you put the keys?", "Happy birthday! 🎂", "Call me when you're free",
]  # fmt: skip
_DAY_MS = 86_400_000


@dataclass
class SeedSummary:
    messages: int = 0
    recalls: int = 0


async def seed(store: SessionStore, now: int, *, rng_seed: int = 7) -> SeedSummary:
    rng = random.Random(rng_seed)
    summary = SeedSummary()
    conversations: list[tuple[list[str], SessionKey | None]] = []
    for i, a in enumerate(ACCOUNTS):
        for b in ACCOUNTS[i + 1 :]:
            conversations.append(([a, b], None))
    for customer in CUSTOMERS:
        conversations.append((["alice", customer], None))
    conversations.extend((members, key) for key, members in TEAMS.items())

    for n, (people, team) in enumerate(conversations):
        length = rng.randint(3, 40)
        start = now - rng.randint(1, 60) * _DAY_MS
        times = sorted(rng.randint(start, now - 1000) for _ in range(length))
        last: tuple[Message, list[Delivery]] | None = None
        for m, sent in enumerate(times):
            sender = rng.choice(people)
            message = _message(rng, f"demo-{n:04}-{m:03}", sender, sent)
            deliveries = _deliveries(sender, people, team)
            await store.record_message(message, deliveries)
            summary.messages += 1
            last = (message, deliveries)
        if last is not None and rng.random() < 0.15:  # some last messages were recalled
            message, deliveries = last
            revoke = RevokeNotification(message.server_id, message.from_account,
                                        message.time + rng.randint(1000, 60_000))  # fmt: skip
            await store.revoke_message(revoke, deliveries)
            summary.recalls += 1
    return summary


def _deliveries(sender: str, people: list[str], team: SessionKey | None) -> list[Delivery]:
    if team is not None:
        return [Delivery(member, team) for member in people]
    peer = next((p for p in people if p != sender), sender)
    return [
        Delivery(sender, SessionKey(SessionType.P2P, peer)),
        Delivery(peer, SessionKey(SessionType.P2P, sender)),
    ]


def _message(rng: random.Random, server_id: str, sender: str, sent: int) -> Message:
    roll = rng.random()
    if roll < 0.8:
        return Message(server_id, sender, MessageType.TEXT, sent, client_id=f"c-{server_id}",
                       text=rng.choice(_LINES))  # fmt: skip
    if roll < 0.9:
        attach = {"name": "photo.jpg", "md5": f"{rng.getrandbits(128):032x}", "w": 1280,
                  "h": 960, "size": rng.randint(50_000, 900_000), "ext": "jpg"}  # fmt: skip
        return Message(server_id, sender, MessageType.PICTURE, sent, client_id=f"c-{server_id}",
                       attachment=orjson.dumps(attach).decode())  # fmt: skip
    if roll < 0.95:
        attach = {"title": "Office", "lat": 30.2741, "lng": 120.1551}
        return Message(server_id, sender, MessageType.LOCATION, sent, client_id=f"c-{server_id}",
                       attachment=orjson.dumps(attach).decode())  # fmt: skip
    return Message(server_id, sender, MessageType.CUSTOM, sent, client_id=f"c-{server_id}",
                   attachment='{"type":"sticker","id":42}', ext='{"priority":"high"}')  # fmt: skip
