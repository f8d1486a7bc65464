"""domain/receiving.py: what the messages an account receives make of its session (the last
message, the unread count)."""

from __future__ import annotations

import pytest

from gateway.domain.membership import Fact, Roster
from gateway.domain.order import event_key
from gateway.domain.receiving import (
    Receiving,
    TeamMessage,
    counts_unread,
    received_state,
)
from gateway.domain.sessions import MessageType

NEVER = -(2**63)


def message(
    time: int, sender: str = "ann", *, counts: bool = True, revoked: bool = False
) -> TeamMessage:
    return TeamMessage(event_key(time, str(time)), sender, counts, revoked)


@pytest.mark.parametrize("kind", [t for t in MessageType if t is not MessageType.NOTIFICATION])
def test_a_message_counts_unread_unless_it_is_a_notification(kind: MessageType) -> None:
    assert counts_unread(kind)
    assert not counts_unread(MessageType.NOTIFICATION)


def test_the_newest_message_received_is_the_last_whatever_the_order() -> None:
    session = Receiving("ben", NEVER, NEVER)
    for time in (20, 30, 10):
        session.receive(message(time))

    assert session.last == message(30)
    assert session.unread == 3


def test_nothing_at_or_before_the_deletion_horizon_is_received() -> None:
    session = Receiving("ben", horizon=20, read_horizon=NEVER)
    session.receive(message(20))
    session.receive(message(10))

    assert (session.last, session.unread) == (None, 0)


def test_only_others_counted_unrevoked_messages_after_the_read_mark_are_unread() -> None:
    session = Receiving("ben", NEVER, read_horizon=15)
    for m in (message(10), message(20, "ben"), message(30, counts=False),
              message(40, revoked=True), message(50)):  # fmt: skip
        session.receive(m)

    assert (session.last, session.unread) == (message(50), 1)


def test_a_session_holds_only_what_the_roster_says_its_account_received() -> None:
    joined = message(20)
    roster = Roster.of([Fact("ben", joined.key, member=True, receives=True)], [])

    state = received_state(roster, "ben", [message(10), joined, message(30)], horizon=NEVER,
                           read_horizon=NEVER)  # fmt: skip

    assert (state.last, state.unread) == (message(30), 2)
