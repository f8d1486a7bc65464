"""What a write transaction changed, per owner, for the listeners told after its commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gateway.domain.sync import Change, ChangeSet, SyncPosition
from gateway.errors import SyncTokenExpired
from gateway.store._rows import Row, change_from_row

# What statements that change sessions return, so the commit can hand listeners the new state.
# (deleted_at itself: SQLite 3.40 evaluates `deleted_at IS NOT NULL` wrongly in RETURNING.)
RETURNING_CHANGE_COLUMNS = "owner, version, deleted_at"


class ChangeLog:
    def __init__(self) -> None:
        self._changes: dict[str, list[Change]] = {}

    def record(self, owner: str, change: Change) -> None:
        self._changes.setdefault(owner, []).append(change)

    def record_rows(self, rows: Iterable[Row]) -> list[Change]:
        """Rows of owner, version, deleted_at, then the session columns."""
        changes = []
        for row in rows:
            values = tuple(row)
            changes.append(change_from_row(str(values[0]), values[1:]))
            self.record(str(values[0]), changes[-1])
        return changes

    def __bool__(self) -> bool:
        return bool(self._changes)

    def by_owner(self) -> Mapping[str, list[Change]]:
        """Each owner's changes in change-feed order."""
        return {
            owner: sorted(changes, key=lambda c: (c.version, str(c.key)))
            for owner, changes in self._changes.items()
        }


def change_set(
    owner: str, since: SyncPosition, limit: int, rows: Sequence[Row], purged_through: int | None
) -> ChangeSet:
    """The feed page that ``rows`` (up to ``limit`` + 1 of them) make, or SyncTokenExpired when
    tombstones after ``since`` were purged."""
    if purged_through is not None and purged_through > since.version:
        raise SyncTokenExpired(
            "changes after this sync token are no longer kept: reload the whole list"
        )
    changes = [change_from_row(owner, row) for row in rows[:limit]]
    position = changes[-1].position if changes else since
    return ChangeSet(changes, position, has_more=len(rows) > limit)
