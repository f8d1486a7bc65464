"""The store's half that imports histories in bulk (SqlStore mixes it in): a batch of events in
one transaction (store/_bulk.py), a file's team lists, and where an import stands in its file."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import orjson

from gateway.domain.imports import BulkEvent, Checkpoint, CheckpointAfter, TeamList
from gateway.domain.membership import registry_change
from gateway.domain.order import event_key
from gateway.store import _bulk as bulk
from gateway.store import _teams as teams
from gateway.store._driver import Driver
from gateway.store._statements import Statements
from gateway.store._write import Write

T = TypeVar("T")


class ImportFeatures:
    """The store's half that imports histories (SqlStore mixes it in)."""

    _driver: Driver
    _sql: Statements
    _bulk: bulk.BulkStatements

    async def _write(self, work: Callable[[Write], Awaitable[T]]) -> T:
        raise NotImplementedError  # SqlStore's: one write transaction, listeners told after

    async def import_events(
        self, events: Sequence[BulkEvent], checkpoint: CheckpointAfter | None = None
    ) -> list[bool | None]:
        async def work(tx: Write) -> list[bool | None]:
            outcomes = await bulk.apply_batch(tx, self._bulk, events)
            if checkpoint is not None and None not in outcomes:
                await _save_checkpoint(tx, checkpoint(outcomes))
            return outcomes

        return await self._write(work)

    async def import_team_list(
        self, team_list: TeamList, checkpoint: Checkpoint | None = None
    ) -> int:
        at = team_list.time  # as set_team_members at the line's time
        change = registry_change(event_key(at, ""), replace=team_list.members)

        async def work(tx: Write) -> int:
            await tx.lock_team(team_list.team)
            # The same list at the same time, imported before (the file imported again): applied
            # again, a list older than the team's messages would count their unread twice (the
            # registry's late path applies what it changes as a difference).
            found = await tx.rows(_SAME_TEAM_LIST, str(team_list.team), at)
            listed = orjson.dumps(sorted(set(team_list.members))).decode()
            if found and str(found[0][0]) == listed:
                count = len(await tx.rows(self._sql.team_members, str(team_list.team)))
            else:
                count = await teams.apply_registry(tx, team_list.team, change, at)
            if checkpoint is not None:
                await _save_checkpoint(tx, checkpoint)
            return count

        return await self._write(work)

    async def import_checkpoint(self, source: str) -> Checkpoint | None:
        async with self._driver.read() as db:
            row = await db.fetch_one(_CHECKPOINT, source)
        if row is None:
            return None
        return Checkpoint(str(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]))

    async def save_import_checkpoint(self, checkpoint: Checkpoint) -> None:
        async def work(tx: Write) -> None:
            await _save_checkpoint(tx, checkpoint)

        await self._write(work)

    async def forget_import_checkpoint(self, source: str) -> None:
        async def work(tx: Write) -> None:
            await tx.db.execute(_FORGET_CHECKPOINT, source)

        await self._write(work)


_CHECKPOINT = "SELECT source, line, bytes, digest, report FROM import_checkpoints WHERE source = ?"
_SAVE_CHECKPOINT = """
INSERT INTO import_checkpoints (source, line, bytes, digest, report, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (source) DO UPDATE SET line = excluded.line, bytes = excluded.bytes,
    digest = excluded.digest, report = excluded.report, updated_at = excluded.updated_at
"""
_FORGET_CHECKPOINT = "DELETE FROM import_checkpoints WHERE source = ?"
_SAME_TEAM_LIST = (
    "SELECT members FROM team_snapshots WHERE team_key = ? AND time = ? AND event_id = ''"
)


async def _save_checkpoint(tx: Write, c: Checkpoint) -> None:
    await tx.db.execute(_SAVE_CHECKPOINT, c.source, c.line, c.offset, c.digest, c.report,
                        _wall_clock_ms())  # fmt: skip


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
