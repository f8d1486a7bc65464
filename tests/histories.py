"""Random team histories for the tests that hold the store to them (test_late_membership,
test_nim_order_property, test_bulk_import): team messages and notifications as NIM's stream sends
them (invitations, applications and invitations accepted, kicks, leaves), arrival orders with
duplicates, and what a store holds of a team afterwards."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from gateway.domain.keys import SessionKey
from gateway.store.base import SessionStore
from gateway.store.sql import SqlStore

T = TypeVar("T")


def as_sent(rng: random.Random, account: str, chance: float = 0.5) -> object:
    """An account (or id) as NIM may send it: its text, or, by ``chance``, a JSON number when it
    is one."""
    numeric = account.isdigit() and not account.startswith("0")
    return int(account) if numeric and rng.random() < chance else account


def member_list(rng: random.Random, accounts: set[str], *, numbers: bool = True) -> object:
    """``tMembers`` in one of NIM's forms: its text (names unquoted), or a JSON array (of
    numbers where they are, with ``numbers``)."""
    names = sorted(accounts)
    if rng.random() < 0.6:
        return f"[{', '.join(names)}]"
    return [as_sent(rng, name) for name in names] if numbers else names


@dataclass(frozen=True)
class Odds:
    """How often each team notification comes, as the upper bound of one roll in [0, 1) each
    takes, in this order; the rest of the rolls are plain messages."""

    invite: float
    apply: float  # an application, accepted by a member
    accept: float  # an invitation, accepted by the invitee
    kick: float
    leave: float
    most_invited: int | None = None  # invited at once (None: up to every outsider)
    fewest_kept: int = 1  # a kick or a leave needs more members than this


@dataclass(frozen=True)
class Turn:
    """One team message of a history: who sends it, its notification (None: a plain message),
    who receives it and the members after it."""

    sender: str
    attach: dict[str, Any] | None
    receivers: set[str]
    after: set[str]

    @property
    def listed(self) -> set[str]:
        """The members the message lists (``tMembers``): who receive a notification, the members
        after a plain message."""
        return self.receivers if self.attach is not None else self.after


def team_turn(rng: random.Random, members: set[str], outsiders: list[str], odds: Odds) -> Turn:
    """The next message of a team whose members are ``members``; ``outsiders`` may join."""
    sender = rng.choice(sorted(members))
    roll = rng.random()
    attach: dict[str, Any] | None = None
    receivers, after = set(members), set(members)
    if roll < odds.invite and outsiders:
        most = min(len(outsiders), odds.most_invited or len(outsiders))
        joining = rng.sample(outsiders, rng.randint(1, most))
        attach = {"id": rng.choice([0, 401]), "data": {"ids": [as_sent(rng, a) for a in joining]}}
        receivers = after = members | set(joining)
    elif roll < odds.apply and outsiders:
        applicant = rng.choice(outsiders)
        attach = {"id": rng.choice([5, 410]), "data": {"id": as_sent(rng, applicant)}}
        receivers = after = members | {applicant}
    elif roll < odds.accept and outsiders:  # the invitee sends it
        inviter, sender = sender, rng.choice(outsiders)
        attach = {"id": rng.choice([9, 411]), "data": {"id": as_sent(rng, inviter)}}
        receivers = after = members | {sender}
    elif roll < odds.kick and len(members) > odds.fewest_kept:
        kicked = rng.choice(sorted(members - {sender}))
        attach = {"id": rng.choice([1, 402]), "data": {"ids": [as_sent(rng, kicked)]}}
        after = members - {kicked}
    elif roll < odds.leave and len(members) > odds.fewest_kept:
        attach = {"id": rng.choice([2, 403]), "data": {}}
        after = members - {sender}
    return Turn(sender, attach, receivers, after)


def team_message(
    rng: random.Random, tid: str, turn: Turn, time: int, msgid: str, *, numeric_id: float = 0
) -> dict[str, Any]:
    """``turn`` as the stream's event (without ``tMembers``); its id a JSON number by
    ``numeric_id``'s chance."""
    event: dict[str, Any] = {
        "eventType": "1", "convType": "TEAM", "to": as_sent(rng, tid),
        "fromAccount": as_sent(rng, turn.sender), "msgTimestamp": str(time),
        "msgidServer": as_sent(rng, msgid, numeric_id) if numeric_id else msgid,
        "msgType": "TEXT" if turn.attach is None else "NOTIFICATION", "body": msgid,
    }  # fmt: skip
    if turn.attach is not None:
        event["attach"] = turn.attach
    return event


def with_duplicates(rng: random.Random, events: Sequence[T], duplicates: int) -> list[T]:
    """``events`` and ``duplicates`` of them again, shuffled."""
    arrival = [*events, *rng.sample(events, duplicates)]
    rng.shuffle(arrival)
    return arrival


Sessions = dict[str, tuple[str | None, int, int] | None]


async def team_state(
    store: SessionStore, team: SessionKey, people: Sequence[str]
) -> tuple[Sessions, list[str]]:
    """Each person's session of ``team`` (its last message, update time and unread count; None
    when there is none), and the team's members."""
    sessions: Sessions = {}
    for person in people:
        found = await store.get_sessions(person, [team])
        sessions[person] = (
            (found[0].last_message_id, found[0].update_time, found[0].unread_count)
            if found
            else None
        )
    return sessions, await store.team_members(team)


async def checkpoints(store: SessionStore, team: SessionKey) -> dict[tuple[int, str], set[str]]:
    """The team's membership checkpoints: the members after each event (time, id) kept."""
    assert isinstance(store, SqlStore)
    async with store._driver.read() as db:
        rows = await db.fetch(
            "SELECT time, event_id, members FROM team_checkpoints WHERE team_key = ?", str(team)
        )
    return {(int(time), str(event_id)): set(orjson.loads(names)) for time, event_id, names in rows}
