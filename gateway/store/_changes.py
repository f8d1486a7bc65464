"""What a write transaction changed, per owner, for the listeners told after its commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.domain.sync import Change
from gateway.store._rows import Row, change_from_row

# What statements that change sessions return, so the commit can hand listeners the new state.
# (deleted_at itself: SQLite 3.40 evaluates `deleted_at IS NOT NULL` wrongly in RETURNING.)
RETURNING_CHANGE_COLUMNS = "owner, version, deleted_at"


class ChangeLog:
    def __init__(self) -> None:
        self._changes: dict[str, list[Change]] = {}

    def record(self, owner: str, change: Change) -> None:
        self._changes.setdefault(owner, []).append(change)

    def record_rows(self, rows: Iterable[Row]) -> None:
        """Rows of owner, version, deleted_at, then the session columns."""
        for row in rows:
            values = tuple(row)
            self.record(str(values[0]), change_from_row(str(values[0]), values[1:]))

    def __bool__(self) -> bool:
        return bool(self._changes)

    def by_owner(self) -> Mapping[str, list[Change]]:
        """Each owner's changes in change-feed order."""
        return {
            owner: sorted(changes, key=lambda c: (c.version, str(c.key)))
            for owner, changes in self._changes.items()
        }
