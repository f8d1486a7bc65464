"""What a batch of new messages does to the sessions they reach, worked out in memory by the
webhook's rules (store/_bulk.py applies it in one transaction).

Each new message reaches sessions: both sides of a P2P chat, or the receivers of a team message,
found by walking the team's new messages in event order from the members before them with
``TeamChange.receivers`` and ``members_after`` (the webhook's rules for an event newer than
everything known of its team). Per (owner, session), domain/receiving.py's ``Receiving`` folds
what reached it, from the session's row as it stood (its horizons, last message and unread
count), into the row it ends as: what the webhook's upserts (store/_statements.py's ``_NEWER``,
``_COUNTS``) make of the same messages one at a time, in any order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.domain.events import MessageEvent, TeamMessageEvent
from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.order import FIRST, EventKey, event_key
from gateway.domain.receiving import Receiving, TeamMessage, counts_unread
from gateway.domain.sessions import Message, RevokeNotification
from gateway.store._lists import KINDS
from gateway.store._rows import Row, last_message_values, names_value
from gateway.store._team_statements import CheckpointRow, FactRow, SnapshotRow
from gateway.store._teams import CHECKPOINT_EVERY

_NEVER = -(2**63)  # a horizon before every message
# What session_rows reads of each session's row (the rows it makes are of DELIVERED_COLUMNS).
STATE_COLUMNS = ("owner", "key", "horizon", "read_horizon", "update_time", "last_kind",
                 "last_msg_id", "last_msg_time", "last_msg_order", "revoke_operator",
                 "revoke_time", "revoke_postscript", "unread")  # fmt: skip


@dataclass(slots=True)
class NewMessage:
    """A new message of the batch."""

    index: int
    event: MessageEvent | TeamMessageEvent
    revoke: RevokeNotification | None = None
    key: EventKey = FIRST  # its place in the event order
    seen: TeamMessage | None = None  # what a session needs of it, once its recall is known

    def __post_init__(self) -> None:
        self.key = event_key(self.event.message.time, self.event.message.server_id)

    def known(self) -> TeamMessage:
        """It as the sessions it reaches see it (revoked or not: _revocations has run)."""
        m = self.event.message
        counted = isinstance(self.event, MessageEvent) or counts_unread(m.type)
        return TeamMessage(self.key, m.from_account, counted, self.revoke is not None)

    @property
    def message(self) -> Message:
        return self.event.message

    @property
    def ref(self) -> tuple[str, str]:
        return self.event.message.conversation, self.event.message.server_id


Pair = tuple[str, str]  # (owner, session key as text)
_KIND_OF_PREFIX = {t.value: kind for t, kind in KINDS.items()}  # by the key's prefix
_P2P = f"{SessionType.P2P.value}|"


Received = dict[Pair, list[NewMessage]]


def p2p_deliveries(news: Iterable[NewMessage]) -> tuple[Received, dict[Pair, str]]:
    """Both sides of each new P2P message; and each session's conversation."""
    received: Received = {}
    conversations: dict[Pair, str] = {}
    for new in news:
        event = new.event
        if not isinstance(event, MessageEvent):
            continue
        for owner, peer in event.conversation.sides():
            pair = (owner, _P2P + peer)
            found = received.get(pair)
            if found is None:
                received[pair] = [new]
                conversations[pair] = event.message.conversation
            else:
                found.append(new)
    return received, conversations


def walk_team(
    team: SessionKey,
    batch: list[NewMessage],
    before: set[str],
    received: Received,
    conversations: dict[Pair, str],
    facts: list[FactRow],
    snapshots: list[SnapshotRow],
    writes: dict[str, int],
    checkpoints: list[CheckpointRow],
) -> set[str]:
    """Deliver a team's new messages in event order from the members before them, as the
    webhook delivers an event newer than everything known of its team; returns the members
    after them. Their membership changes go to ``facts`` and ``snapshots``, as _teams._save
    keeps them, and ``checkpoints`` every CHECKPOINT_EVERY of the team's ``writes``."""
    t = str(team)
    members = set(before)
    names: dict[frozenset[str], str] = {}  # a team's member lists repeat: each encoded once
    for new in sorted(batch, key=lambda n: n.key):
        event = new.event
        assert isinstance(event, TeamMessageEvent)
        change = event.change
        receivers = change.receivers(members)
        members = change.members_after(members)
        for account in receivers:
            pair = (account, t)
            found = received.get(pair)
            if found is None:
                received[pair] = [new]
                conversations[pair] = t
            else:
                found.append(new)
        for f in change.facts:
            facts.append((t, f.account, f.key.time, f.key.event_id, int(f.member),
                          int(f.receives)))  # fmt: skip
        s = change.snapshot
        if s is not None:
            listed = None if s.receivers is None else _names(s.receivers, names)
            snapshots.append((t, s.key.time, s.key.event_id, _names(s.members, names), listed))
        # Every so many writes of the team, its members as a checkpoint (as _teams._checkpoint
        # keeps them): what a late event reads stays bounded by how late it is.
        writes[t] = writes.get(t, 0) + 1
        if writes[t] >= CHECKPOINT_EVERY:
            members_now = _names(frozenset(members), names)
            checkpoints.append((t, new.key.time, new.key.order, new.key.event_id, members_now))
            writes[t] = 0
    return members


def _names(accounts: frozenset[str], known: dict[frozenset[str], str]) -> str:
    """``names_value(accounts)``, remembered in ``known``."""
    found = known.get(accounts)
    if found is None:
        found = known[accounts] = names_value(accounts)
    return found


def session_rows(
    version: Callable[[str], int],
    received: Received,
    conversations: dict[Pair, str],
    news: dict[tuple[str, str], NewMessage],
    states: dict[tuple[str, str], Row],
) -> list[tuple[object, ...]]:
    """Each session the batch changes, as it ends (``DELIVERED_COLUMNS``, stamped with each
    owner's ``version``): the fold of what it received, merged with its row as the webhook's
    upsert merges one message at a time. ``states`` are the rows of ``STATE_COLUMNS``."""
    rows: list[tuple[object, ...]] = []
    for (owner, key), messages in received.items():
        row = states.get((owner, key))
        if row is None:
            fold = Receiving(owner, _NEVER, _NEVER)
        else:
            fold = Receiving(owner, int(row[2]), int(row[3]))
        for new in messages:
            fold.receive(new.seen or new.known())
        last = fold.last
        if last is None:
            continue  # everything it received is older than its deletion
        values: tuple[object, ...]
        if (
            row is None
            or row[7] is None
            or (last.key.time, last.key.order) > (int(row[7]), str(row[8]))
        ):
            new = news[(conversations[(owner, key)], last.key.event_id)]
            values = last_message_values(new.message, new.revoke)
        elif fold.unread:
            values = (row[4], row[5], row[6], row[7], row[9], row[10], row[11])
        else:
            continue  # neither newer nor unread: the webhook's upsert changes nothing
        unread = (0 if row is None else int(row[12])) + fold.unread
        kind = _KIND_OF_PREFIX[key.partition("|")[0]]
        rows.append((owner, key, kind, *values, unread, version(owner)))
    return rows
