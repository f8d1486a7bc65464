"""domain/receiving.py: what the messages an account receives make of its session (the last
message, the unread count), and what a late change of its membership makes of it."""

from __future__ import annotations

import pytest

from gateway.domain.membership import Fact, Roster, Snapshot
from gateway.domain.order import event_key
from gateway.domain.receiving import (
    LateRebuild,
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


def rebuild_for_a_late_kick_of_ben_at(time: int, messages: list[TeamMessage]) -> LateRebuild:
    """The team's messages from a kick of ben at ``time`` on, ben a member before it."""
    key = event_key(time, str(time))
    kick = Fact("ben", key, member=False, receives=True)
    return LateRebuild(key, messages, Roster.of([], [], base={"ben"}),
                       Roster.of([kick], [], base={"ben"}))  # fmt: skip


def test_a_late_kick_takes_back_what_came_after_it_and_counts_the_kick() -> None:
    kick = message(20, counts=False)
    rebuild = rebuild_for_a_late_kick_of_ben_at(20, [kick, message(30), message(40)])

    rebuilt = rebuild.session("ben", horizon=NEVER, read_horizon=NEVER, unread=5, last=(40, ""))

    assert (rebuilt.unread, rebuilt.last, rebuilt.walk_back) == (3, kick, False)


def test_a_late_kick_without_a_message_walks_back_past_what_it_took() -> None:
    rebuild = rebuild_for_a_late_kick_of_ben_at(20, [message(30)])
    last = message(30).key

    rebuilt = rebuild.session("ben", horizon=NEVER, read_horizon=NEVER, unread=1,
                              last=(last.time, last.order))  # fmt: skip

    assert (rebuilt.unread, rebuilt.last, rebuilt.walk_back) == (0, None, True)


def test_a_session_whose_last_message_came_before_a_late_change_keeps_it() -> None:
    rebuild = rebuild_for_a_late_kick_of_ben_at(20, [message(30)])

    rebuilt = rebuild.session("ben", horizon=NEVER, read_horizon=25, unread=0, last=(10, "0"))

    assert (rebuilt.unread, rebuilt.last, rebuilt.walk_back) == (0, None, False)


def test_a_late_join_adds_what_came_after_it_and_its_own_message() -> None:
    key = event_key(20, "20")
    join = TeamMessage(key, "ann", counts_unread=False, revoked=False)
    joined = Roster.of([Fact("cat", key, member=True, receives=True)], [])
    rebuild = LateRebuild(key, [join, message(30)], Roster.of([], []), joined)

    rebuilt = rebuild.session("cat", horizon=NEVER, read_horizon=NEVER, unread=0, last=None)

    assert (rebuilt.unread, rebuilt.last, rebuilt.walk_back) == (1, message(30), False)


def test_a_late_message_that_lists_an_account_out_takes_back_only_what_it_had() -> None:
    """The late event's own message was never delivered: ben loses the messages after it."""
    listing = message(20)
    listed_out = Roster.of([], [Snapshot(listing.key, frozenset({"ann"}), frozenset({"ann"}))],
                           base={"ben"})  # fmt: skip
    rebuild = LateRebuild(listing.key, [listing, message(30)], Roster.of([], [], base={"ben"}),
                          listed_out)  # fmt: skip

    rebuilt = rebuild.session("ben", horizon=NEVER, read_horizon=NEVER, unread=3, last=(30, "0"))

    assert (rebuilt.unread, rebuilt.last, rebuilt.walk_back) == (2, None, True)
