"""Late membership changes (issue 26): a random team history, with kicks, leaves, invitations and
registry writes, applied in a random order (or with its membership changes held back to arrive
late) leaves exactly what the same history applied in time order leaves: each account's session
(last message, update time, unread count) and the members. Checkpoints are kept every few writes
here, so late events land before, between and on checkpoints; each checkpoint left must hold the
members the history has after its event."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.membership import TeamChange, message_change
from gateway.domain.order import event_key
from gateway.domain.sessions import Message, MessageType
from gateway.store import _teams
from gateway.store.base import SessionStore
from tests.histories import checkpoints, team_state

PEOPLE = ["ann", "ben", "cat", "dan", "eve", "fay", "gus"]
BASE = 1_795_400_000_000


@pytest.fixture(autouse=True)
def frequent_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_teams, "CHECKPOINT_EVERY", 3)


@dataclass(frozen=True)
class Event:
    """One event of the history: a team message (with what it says of the members) or a
    registry write (``registry``: "add", "remove" or "replace" of ``accounts``)."""

    time: int
    server_id: str
    sender: str = ""
    joins: tuple[str, ...] = ()
    leaves: tuple[str, ...] = ()
    listed: tuple[str, ...] | None = None
    registry: str = ""
    accounts: tuple[str, ...] = ()

    @property
    def changes_members(self) -> bool:
        return bool(self.registry or self.joins or self.leaves)


@dataclass
class History:
    events: list[Event] = field(default_factory=list)
    members_after: dict[tuple[int, str], frozenset[str]] = field(default_factory=dict)


def history(rng: random.Random) -> History:
    made = History()
    members = set(rng.sample(PEOPLE, 3))
    time, value = BASE, 1_000
    made.events.append(Event(time, "", registry="replace", accounts=tuple(sorted(members))))
    made.members_after[(time, "")] = frozenset(members)
    for _ in range(rng.randint(20, 45)):
        time += rng.choice([0, 1, 1, 2, 5])
        value += rng.randint(1, 3)
        outsiders = sorted(set(PEOPLE) - members)
        roll = rng.random()
        if roll < 0.1:  # a registry write, no message: stamped with the empty id
            time += 1
            if outsiders and rng.random() < 0.5:
                event = Event(time, "", registry="add", accounts=(rng.choice(outsiders),))
                members |= set(event.accounts)
            elif len(members) > 1:
                event = Event(time, "", registry="remove", accounts=(rng.choice(sorted(members)),))
                members -= set(event.accounts)
            else:
                continue
            made.events.append(event)
            made.members_after[(time, "")] = frozenset(members)
            time += 1
            continue
        sender = rng.choice(sorted(members))
        joins: tuple[str, ...] = ()
        leaves: tuple[str, ...] = ()
        if roll < 0.3 and outsiders:
            joins = tuple(rng.sample(outsiders, rng.randint(1, len(outsiders))))
        elif roll < 0.45 and len(members) > 1:
            leaves = (rng.choice(sorted(members - {sender})),)
        elif roll < 0.5 and len(members) > 1:
            leaves = (sender,)
        after = (members | set(joins)) - set(leaves)
        listed = tuple(sorted(after if not leaves else members)) if rng.random() < 0.15 else None
        event = Event(time, str(value), sender, joins, leaves, listed)
        made.events.append(event)
        members = after
        made.members_after[(time, str(value))] = frozenset(members)
    return made


def arrival(rng: random.Random, events: list[Event]) -> list[Event]:
    """A random order, or time order with the membership changes held back and sent last (each
    then late by everything after it), or time order with a few events moved to the end."""
    kind = rng.choice(["shuffled", "membership late", "some late"])
    if kind == "shuffled":
        return rng.sample(events, len(events))
    if kind == "membership late":
        late = [e for e in events[1:] if e.changes_members]
        rng.shuffle(late)
        return [e for e in events if e not in late] + late
    late = rng.sample(events[1:], min(len(events) - 1, rng.randint(1, 4)))
    return [e for e in events if e not in late] + late


async def apply(store: SessionStore, team: SessionKey, event: Event) -> None:
    accounts = list(event.accounts)
    if event.registry == "replace":
        await store.set_team_members(team, accounts, event.time)
    elif event.registry == "add":
        await store.add_team_members(team, accounts, event.time)
    elif event.registry == "remove":
        await store.remove_team_members(team, accounts, event.time)
    else:
        notice = event.joins or event.leaves
        message = Message(event.server_id, event.sender,
                          MessageType.NOTIFICATION if notice else MessageType.TEXT, event.time,
                          text=event.server_id, conversation=str(team))  # fmt: skip
        change: TeamChange = message_change(
            event_key(event.time, event.server_id), event.sender, joins=event.joins,
            leaves=event.leaves, listed=event.listed,
        )  # fmt: skip
        assert await store.record_team_message(team, message, change, event.time)


@pytest.mark.parametrize("seed", range(12))
async def test_a_team_history_in_any_order_leaves_what_time_order_leaves(
    seed: int, store: SessionStore
) -> None:
    rng = random.Random(seed)
    made = history(rng)
    in_order = SessionKey(SessionType.TEAM, f"in-order-{seed}")
    late = SessionKey(SessionType.TEAM, f"late-{seed}")
    for event in made.events:
        await apply(store, in_order, event)
    order = arrival(rng, made.events)
    for event in order:
        await apply(store, late, event)
    assert await team_state(store, late, PEOPLE) == await team_state(store, in_order, PEOPLE), order
    kept = await checkpoints(store, late)
    assert kept, "checkpoints are kept every few writes"
    assert kept == {key: set(made.members_after[key]) for key in kept}


async def test_a_late_removal_walks_back_pages_to_the_last_message_received_before_it(
    store: SessionStore,
) -> None:
    """The removed member's last message before the removal lies many messages back (it did not
    receive those in between: it had been removed and added again, without messages), so the
    walk back crosses pages and checkpoints."""
    team = SessionKey(SessionType.TEAM, "walk-back")
    events = [Event(BASE, "", registry="replace", accounts=("ann", "ben"))]
    events.append(Event(BASE + 1, "10", "ben"))  # ann's last message before the kick
    events.append(Event(BASE + 2, "", registry="remove", accounts=("ann",)))
    events += [Event(BASE + 3 + n, str(20 + n), "ben") for n in range(150)]
    events.append(Event(BASE + 200, "", registry="add", accounts=("ann",)))
    after_removal = [Event(BASE + 300 + n, str(500 + n), "ben") for n in range(5)]
    removal = Event(BASE + 250, "", registry="remove", accounts=("ann",))
    for event in [*events, *after_removal, removal]:
        await apply(store, team, event)
    [session] = await store.get_sessions("ann", [team])
    assert (session.last_message_id, session.unread_count) == ("10", 1)
    assert await store.team_members(team) == ["ben"]


@pytest.mark.parametrize("seed", range(6))
async def test_registry_writes_sent_again_change_nothing(seed: int, store: SessionStore) -> None:
    """A registry request retried (the same change, at its own time, again: late by everything
    after it) leaves what one leaves."""
    rng = random.Random(1000 + seed)
    made = history(rng)
    once = SessionKey(SessionType.TEAM, f"once-{seed}")
    retried = SessionKey(SessionType.TEAM, f"retried-{seed}")
    for event in made.events:
        await apply(store, once, event)
        await apply(store, retried, event)
    for event in [e for e in made.events if e.registry]:
        await apply(store, retried, event)
    assert await team_state(store, retried, PEOPLE) == await team_state(store, once, PEOPLE)


async def test_a_member_added_late_twice_counts_its_unread_once(store: SessionStore) -> None:
    team = SessionKey(SessionType.TEAM, "added-twice")
    await apply(store, team, Event(BASE, "", registry="replace", accounts=("ann", "ben")))
    for n in range(3):
        await apply(store, team, Event(BASE + 100 + n, str(10 + n), "ann"))
    late = Event(BASE + 50, "", registry="replace", accounts=("ann", "ben", "cat"))
    for _ in range(3):
        await apply(store, team, late)
        [session] = await store.get_sessions("cat", [team])
        assert (session.last_message_id, session.unread_count) == ("12", 3)
