"""What a write transaction changed, per owner, for the listeners told after its commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gateway.domain.groups import GroupChange
from gateway.domain.keys import SessionKey
from gateway.domain.sync import Change, ChangeSet, SyncPosition
from gateway.errors import SyncTokenExpired
from gateway.store._rows import Row, change_from_row, owned_changes_from_rows

# What statements that change sessions return, so the commit can hand listeners the new state.
# (deleted_at itself: SQLite 3.40 evaluates `deleted_at IS NOT NULL` wrongly in RETURNING.)
RETURNING_CHANGE_COLUMNS = "owner, version, deleted_at"


class ChangeLog:
    """The owners a transaction changed and, for those someone watches, the changes themselves:
    nobody would read the others' (a listener told only of an owner reads the feed), so a
    fan-out does not build them. A fan-out's rows are decoded only when the changes are asked
    for (by_owner), after the commit: a thousand take 3 ms, which the transaction (and, on
    SQLite, every other write waiting for it) need not wait for."""

    def __init__(self) -> None:
        self._owners: set[str] = set()
        self._changes: dict[str, list[Change]] = {}
        self._reread: set[str] = set()
        self._undecoded: list[tuple[Sequence[Row], SessionKey]] = []

    def record(self, owner: str, change: Change) -> None:
        self._decode()  # the changes of one session are kept in the order they were made
        self._owners.add(owner)
        self._changes.setdefault(owner, []).append(change)

    def record_rows(self, rows: Iterable[Row]) -> list[Change]:
        """Rows of owner, version, deleted_at, then the session columns."""
        changes = []
        for owner, change in owned_changes_from_rows(rows):
            changes.append(change)
            self.record(owner, change)
        return changes

    def record_fan_out(self, rows: Sequence[Row], key: SessionKey) -> None:
        """A fan-out's rows of the session ``key`` (as record_rows), of owners already recorded
        (record_owners), to decode later."""
        self._undecoded.append((rows, key))

    def _decode(self) -> None:
        """Build the changes of the fan-outs' rows recorded so far."""
        undecoded, self._undecoded = self._undecoded, []
        for rows, key in undecoded:
            for owner, change in owned_changes_from_rows(rows, key):
                self._changes.setdefault(owner, []).append(change)

    def record_group(self, owner: str) -> None:
        """The owner's conversation groups changed: its listeners read the feed (group
        changes are rare), none is handed this transaction's changes of that owner."""
        self._owners.add(owner)
        self._reread.add(owner)

    def record_owners(self, owners: Iterable[str]) -> None:
        """Owners whose lists changed, or may have (a fan-out names everyone it reached),
        without their changes."""
        self._owners.update(owners)

    def __bool__(self) -> bool:
        return bool(self._owners)

    def owners(self) -> frozenset[str]:
        return frozenset(self._owners)

    def by_owner(self) -> Mapping[str, list[Change]]:
        """Each recorded owner's changes in change-feed order, a session changed twice as it
        ended (owners recorded without their changes are left out)."""
        self._decode()
        return {
            owner: _in_feed_order(changes)
            for owner, changes in self._changes.items()
            if owner not in self._reread
        }


def _in_feed_order(changes: list[Change]) -> list[Change]:
    if len(changes) == 1:  # a fan-out's usual case: one change per owner
        return changes
    last = {(c.version, str(c.key)): c for c in changes}
    return [last[position] for position in sorted(last)]


def change_set(
    owner: str,
    since: SyncPosition,
    limit: int,
    rows: Sequence[Row],
    purged_through: int | None,
    groups: Sequence[GroupChange] = (),
) -> ChangeSet:
    """The feed page that ``rows`` and ``groups`` (up to ``limit`` + 1 of each, in feed order)
    make, or SyncTokenExpired when tombstones after ``since`` were purged."""
    if purged_through is not None and purged_through > since.version:
        raise SyncTokenExpired(
            "changes after this sync token are no longer kept: reload the whole list"
        )
    if not groups:
        changes = [change_from_row(owner, row) for row in rows[:limit]]
        position = changes[-1].position if changes else since
        return ChangeSet(changes, position, has_more=len(rows) > limit)
    merged = ChangeSet([change_from_row(owner, row) for row in rows], since, False, list(groups))
    page = merged.in_feed_order()
    kept = page[:limit]
    return ChangeSet(
        [c for c in kept if isinstance(c, Change)],
        kept[-1].position if kept else since,
        has_more=len(page) > limit,
        groups=[c for c in kept if isinstance(c, GroupChange)],
    )
