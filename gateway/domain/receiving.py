"""What the messages an account receives make of its session: the last message and the unread
count, whatever order they arrive in; and what a late change of the account's membership in a
team makes of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.domain.membership import Roster
from gateway.domain.order import EventKey
from gateway.domain.sessions import MessageType


def counts_unread(message_type: MessageType) -> bool:
    """Whether a message of this type counts as unread: a team notification (an invitation, a
    kick, a leave) does not, as by NIM's default."""
    return message_type is not MessageType.NOTIFICATION


@dataclass(frozen=True, slots=True)
class TeamMessage:
    """What a team session needs of a message of the team."""

    key: EventKey  # its id is key.event_id
    sender: str
    counts_unread: bool  # team notifications do not (NIM's default)
    revoked: bool


@dataclass(frozen=True, slots=True)
class ReceivedState:
    """An account's session of a team, as the messages it received make it."""

    last: TeamMessage | None
    unread: int


def received_state(
    roster: Roster,
    account: str,
    messages: Sequence[TeamMessage],
    *,
    horizon: int,
    read_horizon: int,
) -> ReceivedState:
    """The last message and unread count of ``account``'s session, from the team's messages
    (oldest first) that it received after its deletion ``horizon``."""
    state = Receiving(account, horizon, read_horizon)
    for message in messages:
        if roster.receives(account, message.key):
            state.receive(message)
    return ReceivedState(state.last, state.unread)


@dataclass(slots=True)
class Receiving:
    """One account's session of a conversation as the messages it receives make it, in any
    order: the newest one after its deletion ``horizon`` is the last message; one counts as
    unread when it counts at all (not a team notification), is not revoked, is not the account's
    own and came after the ``read_horizon`` too. The webhook's upserts apply the same rule one
    message at a time (store/_statements.py: ``_NEWER``, ``_COUNTS``); a bulk import folds a
    batch of messages with it (store/_bulk.py)."""

    account: str
    horizon: int
    read_horizon: int
    last: TeamMessage | None = None
    unread: int = 0

    def receive(self, message: TeamMessage) -> None:
        time = message.key.time
        if time <= self.horizon:
            return
        if self.last is None or message.key > self.last.key:
            self.last = message
        if (message.counts_unread and not message.revoked and message.sender != self.account
                and time > self.read_horizon):  # fmt: skip
            self.unread += 1


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """An account's session of a team once a late change of its membership is applied."""

    unread: int
    last: TeamMessage | None  # the last message it received from the change on
    walk_back: bool  # none, where its last message was: the last one before the change is


class LateRebuild:
    """The sessions of the accounts whose membership a late change at ``key`` flips, from ``key``
    on: ``messages`` are the team's from there (oldest first, with the change's own when it has
    one), ``old`` and ``new`` the team's changes from there without and with the late one. What
    each account received from there is counted without and with the change, and the difference
    applied: nothing before ``key`` is read."""

    def __init__(
        self, key: EventKey, messages: Sequence[TeamMessage], old: Roster, new: Roster
    ) -> None:
        self.key = key
        self.messages = messages
        self.delivered = [m for m in messages if m.key != key]  # the change's own was not yet
        self.old = old
        self.new = new

    def session(
        self,
        account: str,
        *,
        horizon: int,
        read_horizon: int,
        unread: int,
        last: tuple[int, str] | None,
    ) -> Rebuilt:
        """``account``'s session, which holds ``unread`` and its last message at ``last`` (time,
        the id's sort key), once the change is applied."""
        was = received_state(self.old, account, self.delivered, horizon=horizon,
                             read_horizon=read_horizon)  # fmt: skip
        now = received_state(self.new, account, self.messages, horizon=horizon,
                             read_horizon=read_horizon)  # fmt: skip
        lost_last = last is not None and last >= (self.key.time, self.key.order)
        return Rebuilt(max(0, unread - was.unread + now.unread), now.last,
                       now.last is None and lost_last)  # fmt: skip
