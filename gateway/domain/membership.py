"""Team membership learned from NIM's stream, as last-writer-wins state per (team, account).

Every change is stamped with the key of the event that made it: ``msgTimestamp``, then
``msgidServer`` as an unsigned integer (domain/order.py), for a message; the request's time and the
empty id for the registry. Two kinds of change are kept:

- a ``Fact`` about one account: it is (or is not) a member after the key, and it does (or does not)
  receive the message at that key (a kicked member receives the kick notification);
- a ``Snapshot`` of the whole team: ``tMembers`` of a team message, a registry replace, a dismiss.
  It names who receives the message at its key and who the members are after it; every account it
  does not name is not a member after it, including accounts the gateway learns of only later.

Membership at any key is the newest change at or before it (a fact wins over a snapshot at the same
key), so the state depends only on the set of changes, never on the order they arrived in: a late,
older event never undoes a newer one, and a late event inside a stretch of history is applied to
exactly that stretch.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.domain.order import FIRST, LAST, EventKey


@dataclass(frozen=True, slots=True)
class Fact:
    account: str
    key: EventKey
    member: bool
    receives: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    key: EventKey
    members: frozenset[str]  # the members after the key
    receivers: frozenset[str] | None  # who gets the message at the key; None: the members before


@dataclass(frozen=True, slots=True)
class TeamChange:
    """What one event says about a team's members."""

    facts: tuple[Fact, ...] = ()
    snapshot: Snapshot | None = None

    @property
    def accounts(self) -> frozenset[str]:
        named = {f.account for f in self.facts}
        if self.snapshot is not None:
            named |= self.snapshot.members
            named |= self.snapshot.receivers or frozenset()
        return frozenset(named)

    @property
    def key(self) -> EventKey | None:
        """The key of the event that made it; None when it says nothing."""
        if self.snapshot is not None:
            return self.snapshot.key
        return self.facts[0].key if self.facts else None

    def receivers(self, members_before: AbstractSet[str]) -> set[str]:
        """Who receives the event's message, given the members just before it."""
        snapshot = self.snapshot
        receivers = members_before
        if snapshot is not None and snapshot.receivers is not None:
            receivers = snapshot.receivers
        return with_changes(receivers, ((f.account, f.receives) for f in self.facts))

    def members_after(self, members_before: AbstractSet[str]) -> set[str]:
        """The members once the event is applied, given the members just before it."""
        members = self.snapshot.members if self.snapshot else members_before
        return with_changes(members, ((f.account, f.member) for f in self.facts))

    def named_receivers(self, members: AbstractSet[str]) -> set[str]:
        """The accounts the event names as receiving its message that are not in ``members``."""
        return {f.account for f in self.facts if f.receives} - members

    def flipped(self, members_before: AbstractSet[str]) -> set[str]:
        """The accounts whose membership the event changes, given the members just before it."""
        return set(members_before) ^ self.members_after(members_before)

    def late_receivers(self, members_before: AbstractSet[str]) -> set[str]:
        """Who receives the message of an event older than something known of its team, other
        than the accounts it flips: those get it as an on-time event's receivers do (delivery
        does not depend on arrival order), while the flipped accounts' sessions are rebuilt."""
        return self.receivers(members_before) - self.flipped(members_before)


def message_change(
    key: EventKey,
    sender: str,
    *,
    joins: Iterable[str] = (),
    leaves: Iterable[str] = (),
    dismiss: bool = False,
    listed: Sequence[str] | None = None,
) -> TeamChange:
    """The change a team message makes: the sender is a member at it (only members can send)
    unless it removes them; ``joins`` and ``leaves`` receive it; ``listed`` (``tMembers``) are the
    members at it; a dismiss leaves nobody."""
    removed = set(leaves)
    facts: dict[str, Fact] = {}
    for account in joins:
        facts[account] = Fact(account, key, member=True, receives=True)
    facts.setdefault(sender, Fact(sender, key, member=True, receives=True))
    for account in removed:
        facts[account] = Fact(account, key, member=False, receives=True)
    if dismiss:
        facts[sender] = Fact(sender, key, member=False, receives=True)
    snapshot = None
    if dismiss:
        receivers = None if listed is None else frozenset(listed)
        snapshot = Snapshot(key, frozenset(), receivers)
    elif listed is not None:
        members = frozenset(listed)
        snapshot = Snapshot(key, members, members)
    return TeamChange(tuple(facts.values()), snapshot)


def registry_change(
    key: EventKey,
    *,
    replace: Sequence[str] | None = None,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> TeamChange:
    """A registry write: no message, so nobody receives anything at its key."""
    facts = [Fact(a, key, member=True, receives=False) for a in add]
    facts += [Fact(a, key, member=False, receives=False) for a in remove]
    snapshot = None
    if replace is not None:
        snapshot = Snapshot(key, frozenset(replace), frozenset())
    return TeamChange(tuple(facts), snapshot)


@dataclass
class Roster:
    """Every membership change of one team, answering who is a member, or receives, at a key."""

    facts: dict[str, list[Fact]] = field(default_factory=dict)
    snapshots: list[Snapshot] = field(default_factory=list)
    base: frozenset[str] = frozenset()  # the members before the oldest change it holds

    @classmethod
    def of(
        cls, facts: Iterable[Fact], snapshots: Iterable[Snapshot], base: Iterable[str] = ()
    ) -> Roster:
        """The roster of these changes; ``base``: the members before the oldest of them, when
        they are only the team's changes from some key on."""
        roster = cls(base=frozenset(base))
        for fact in facts:
            roster.facts.setdefault(fact.account, []).append(fact)
        for history in roster.facts.values():
            history.sort(key=lambda f: f.key)
        roster.snapshots = sorted(snapshots, key=lambda s: s.key)
        return roster

    def accounts(self) -> set[str]:
        named = set(self.facts) | self.base
        for snapshot in self.snapshots:
            named |= snapshot.members
            named |= snapshot.receivers or frozenset()
        return named

    def member_after(self, account: str, key: EventKey) -> bool:
        """Whether ``account`` is a member once every change at or before ``key`` is applied."""
        fact = _last_at_or_before(self.facts.get(account, ()), key)
        snapshot = _last_at_or_before(self.snapshots, key)
        return self._member(account, fact, snapshot)

    def member_before(self, account: str, key: EventKey) -> bool:
        fact = _last_before(self.facts.get(account, ()), key)
        snapshot = _last_before(self.snapshots, key)
        return self._member(account, fact, snapshot)

    def _member(self, account: str, fact: Fact | None, snapshot: Snapshot | None) -> bool:
        if fact is not None and (snapshot is None or fact.key >= snapshot.key):
            return fact.member
        if snapshot is not None:
            return account in snapshot.members
        return account in self.base

    def receives(self, account: str, key: EventKey) -> bool:
        """Whether ``account`` receives the team's message at ``key``."""
        fact = _at(self.facts.get(account, ()), key)
        if fact is not None:
            return fact.receives
        snapshot = _at(self.snapshots, key)
        if snapshot is not None and snapshot.receivers is not None:
            return account in snapshot.receivers
        return self.member_before(account, key)

    def members(self) -> list[str]:
        """The members after every known change."""
        return sorted(a for a in self.accounts() if self.member_after(a, LAST))

    def amend(
        self, members: AbstractSet[str], accounts: AbstractSet[str], key: EventKey = LAST
    ) -> set[str]:
        """``members``, the members after ``key`` as they were known, with each of ``accounts``
        a member or not as this roster has it after ``key``."""
        return (set(members) - accounts) | {a for a in accounts if self.member_after(a, key)}


@dataclass(frozen=True, slots=True)
class MemberList:
    """The members after every change up to ``key``: a snapshot's, or a checkpoint's (kept every
    so many writes of a team, so that a late event reads the team's history from the nearest
    one before it, never from the start)."""

    key: EventKey
    members: frozenset[str]


NOBODY = MemberList(FIRST, frozenset())  # before every event


def newest_list(snapshots: Iterable[Snapshot], checkpoints: Iterable[MemberList]) -> MemberList:
    """The newest of these lists, a checkpoint before a snapshot at the same key (it holds the
    snapshot already); NOBODY when there are none."""
    newest = NOBODY
    for found in [*(MemberList(s.key, s.members) for s in snapshots), *checkpoints]:
        if found.key >= newest.key:
            newest = found
    return newest


def with_changes(members: AbstractSet[str], changes: Iterable[tuple[str, bool]]) -> set[str]:
    """``members`` with each (account, in) of ``changes`` applied in turn: added or removed."""
    changed = set(members)
    for account, added in changes:
        (changed.add if added else changed.discard)(account)
    return changed


_Change = TypeVar("_Change", Fact, Snapshot)


def _last_at_or_before(items: Sequence[_Change], key: EventKey) -> _Change | None:
    index = bisect_right(items, key, key=lambda item: item.key)
    return items[index - 1] if index else None


def _last_before(items: Sequence[_Change], key: EventKey) -> _Change | None:
    index = bisect_right(items, key, key=lambda item: item.key)
    while index and items[index - 1].key >= key:
        index -= 1
    return items[index - 1] if index else None


def _at(items: Sequence[_Change], key: EventKey) -> _Change | None:
    found = _last_at_or_before(items, key)
    return found if found is not None and found.key == key else None
