"""A property (issue 23): any team history whose accounts and ids mix numeric, zero-padded and
textual forms, with ids of different lengths tying in one millisecond, posted signed in any order
with duplicates, leaves the lists and members that a plain walk of the history in NIM's order
gives: ``msgTimestamp``, then ``msgidServer`` as a number (a textual id, which NIM never sends,
after the numbers of its millisecond).

The history is made in that order: times that often stay on the same millisecond, ids whose
values only grow but whose text, padded with zeros or crossing into another length, sorts any
way. The walk knows nothing of the gateway's keys."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.domain.keys import SessionKey, SessionType
from gateway.store.base import SessionStore
from tests.conftest import Clock, Webhook
from tests.histories import Odds, member_list, team_message, team_state, team_turn, with_duplicates

PROPERTY = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))  # fmt: skip
# "0123" beside "123" and "007" beside "7": numerically equal, different accounts.
ACCOUNTS = ["alice", "0123", "123", "10001", "张三", "1234567890123456789", "007", "7", "o'neil"]
# Just below where ids grow a digit, up to where they pass 2^63 (a Long) and 2^64.
STARTS = [95, 995, 9_995, 99_995, 9_223_372_036_854_775_800, 9_999_999_999_999_999_990]
BASE = 1_795_300_000_000
ODDS = Odds(invite=0.2, apply=0.3, accept=0.4, kick=0.55, leave=0.65)
_teams = itertools.count(1)


@pytest.fixture
def clock() -> Clock:
    """The server's clock, after every history here: no time sent is ahead of it."""
    return Clock(1_796_000_000_000)


@dataclass
class Walk:
    """The history in NIM's order, and what it leaves."""

    people: list[str]
    members: set[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    last: dict[str, tuple[str, int]] = field(default_factory=dict)  # account: (id, time)
    unread: dict[str, int] = field(default_factory=dict)

    def deliver(self, msgid: str, time: int, receivers: set[str], sender: str, text: bool) -> None:
        for account in receivers:
            self.last[account] = (msgid, time)
            if text and account != sender:
                self.unread[account] = self.unread.get(account, 0) + 1


def history(rng: random.Random, tid: str) -> Walk:
    people = rng.sample(ACCOUNTS, 5)
    walk = Walk(people, {people[0]})
    time, value, textual_last = BASE, rng.choice(STARTS), False
    for n in range(rng.randint(4, 16)):
        if not n or textual_last or rng.random() < 0.4:
            time += rng.randint(1, 3)
        value += rng.randint(1, 7)
        textual_last = rng.random() < 0.12  # after every number of its millisecond
        msgid = f"x{tid}-{n}" if textual_last else str(value).zfill(len(str(value)) + rng.choice(
            [0, 0, 0, 1, 2]))  # fmt: skip
        outsiders = [p for p in walk.people if p not in walk.members]
        turn = team_turn(rng, walk.members, outsiders, ODDS)
        event = team_message(rng, tid, turn, time, msgid, numeric_id=0.3)
        if rng.random() < 0.7:  # NIM lists the members of a team of up to 200
            event["tMembers"] = member_list(rng, turn.listed)
        walk.deliver(msgid, time, turn.receivers, turn.sender, turn.attach is None)
        walk.members = turn.after
        walk.events.append(event)
    return walk


@given(seed=st.integers(0, 2**32))
@PROPERTY
async def test_any_arrival_of_a_team_history_gives_what_nims_order_gives(
    seed: int, webhook: Webhook, store: SessionStore
) -> None:
    rng = random.Random(seed)
    tid = str(next(_teams)).zfill(rng.choice([1, 1, 6]))  # "0000017" and "17" are two teams
    walk = history(rng, tid)
    arrival = with_duplicates(rng, walk.events, rng.randint(1, len(walk.events)))
    for event in arrival:
        assert (await webhook.ok(event))["outcome"] in {"applied", "duplicate"}, event
    key = SessionKey(SessionType.TEAM, tid)
    expected = {
        p: (*walk.last[p], walk.unread.get(p, 0)) if p in walk.last else None for p in walk.people
    }
    assert await team_state(store, key, walk.people) == (expected, sorted(walk.members)), arrival
