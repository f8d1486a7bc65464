"""Bulk import of an existing history: a file of NIM CC events, one JSON object a line.

A line that is ``{"tid", "type", "members"}`` sets a team's members (as ``PUT
/nim/teams/<tid>/members`` does) as of its optional ``time`` (ms; the start of time when absent),
for teams whose members NIM's stream does not list; every other line is a CC event, parsed as the
webhook parses it.

Events go to the store in batches (``store.import_events``: one transaction each, reduced per
owner and session, the webhook's rules); what a batch leaves (a late team event, a recall of a
message it did not bring) is applied one event at a time, as the webhook applies it. A team line
is applied where it stands, between two batches.

A file's import resumes after a crash: each batch commits with the import's checkpoint (the lines
and bytes applied, the SHA-256 of those bytes, the counts so far), and a rerun that finds the same
bytes before the checkpoint skips them. Whatever it re-applies anyway (a batch whose leftovers
were cut short) is recognised by message ids, as the webhook recognises NIM's repeats: nothing
counts twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from gateway.domain import fields
from gateway.domain.events import IgnoredEvent
from gateway.domain.imports import BulkEvent, Checkpoint, TeamList
from gateway.domain.teams import parse_member_change
from gateway.errors import BadEvent, GatewayError
from gateway.ingest import Ingestor, Outcome
from gateway.store.base import SessionStore

BATCH_LINES = 50_000
KEPT_REJECTIONS = 1_000  # the first rejected lines named in a checkpoint; the rest are counted
_HEAD_BYTES = 65_536  # what names a file (Checkpoint.source)

Progress = Callable[[int, int], None]  # told (bytes, lines) more are done, after each commit


@dataclass
class ImportReport:
    applied: int = 0
    duplicate: int = 0
    ignored: int = 0
    teams: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    more_rejected: int = 0  # rejected past KEPT_REJECTIONS, in a resumed import
    resumed_at: int = 0  # the line a resumed import started after

    def summary(self) -> str:
        return (
            f"{self.applied} applied, {self.duplicate} duplicate, {self.ignored} ignored, "
            f"{self.teams} team lists, {len(self.rejected) + self.more_rejected} rejected"
        )

    def to_json(self) -> str:
        kept = self.rejected[:KEPT_REJECTIONS]
        more = self.more_rejected + len(self.rejected) - len(kept)
        return orjson.dumps([self.applied, self.duplicate, self.ignored, self.teams, kept,
                             more]).decode()  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> ImportReport:
        applied, duplicate, ignored, teams, rejected, more = orjson.loads(text)
        return cls(applied, duplicate, ignored, teams, [(int(n), str(r)) for n, r in rejected],
                   int(more))  # fmt: skip

    def count(self, outcome: Outcome | bool) -> None:
        if outcome is True or outcome is Outcome.APPLIED:
            self.applied += 1
        elif outcome is False or outcome is Outcome.DUPLICATE:
            self.duplicate += 1
        else:
            self.ignored += 1


@dataclass
class _Position:
    """How far into the file: lines and bytes, and the digest of those bytes."""

    line: int = 0
    offset: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    def advance(self, line: bytes) -> None:
        self.line += 1
        self.offset += len(line)
        self.digest.update(line)


async def import_lines(
    store: SessionStore,
    lines: Iterable[bytes],
    on_progress: Progress | None = None,
    *,
    batch_lines: int = BATCH_LINES,
) -> ImportReport:
    """Import a stream of lines (no checkpoint: a stream cannot be resumed)."""
    run = _Import(store, None, ImportReport(), _Position(), on_progress, batch_lines)
    await run.lines(lines)
    return run.report


async def import_file(
    store: SessionStore,
    path: Path,
    on_progress: Progress | None = None,
    *,
    batch_lines: int = BATCH_LINES,
    restart: bool = False,
) -> ImportReport:
    """Import a file, resuming where an interrupted import of the same bytes stopped (unless
    ``restart``); the checkpoint goes once the file is done."""
    with path.open("rb") as file:
        source = hashlib.sha256(file.read(_HEAD_BYTES)).hexdigest()
        file.seek(0)
        checkpoint = None if restart else await store.import_checkpoint(source)
        report, position = ImportReport(), _Position()
        digest = None if checkpoint is None else _digest(file, checkpoint)
        if (
            checkpoint is not None
            and digest is not None
            and digest.hexdigest() == checkpoint.digest
        ):
            report = ImportReport.from_json(checkpoint.report)
            report.resumed_at = checkpoint.line
            position = _Position(checkpoint.line, checkpoint.offset, digest)
            if on_progress is not None:
                on_progress(checkpoint.offset, 0)  # done before
        file.seek(position.offset)
        run = _Import(store, source, report, position, on_progress, batch_lines)
        await run.lines(file)
    await store.forget_import_checkpoint(source)
    return run.report


def _digest(file: BinaryIO, checkpoint: Checkpoint) -> hashlib._Hash:
    """The SHA-256 of the file's first ``checkpoint.offset`` bytes (fewer when it is shorter
    now, and then not the checkpoint's)."""
    file.seek(0)
    digest = hashlib.sha256()
    left = checkpoint.offset
    while left > 0:
        chunk = file.read(min(left, 1 << 20))
        if not chunk:
            break
        digest.update(chunk)
        left -= len(chunk)
    return digest


@dataclass
class _Batch:
    """Lines read since the last commit: their events, what parsing them counted, and the
    position after them."""

    events: list[BulkEvent] = field(default_factory=list)
    ignored: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    line: int = 0
    offset: int = 0
    digest: str = ""
    lines: int = 0


class _Import:
    """Reads and parses the next batch while the store applies the one before (on PostgreSQL the
    database works in its own process; SQLite's statements run on aiosqlite's thread without the
    GIL). Batches commit one after another, in the file's order."""

    YIELD_EVERY = 500  # lines parsed between two chances for the batch being applied to go on

    def __init__(
        self,
        store: SessionStore,
        source: str | None,
        report: ImportReport,
        position: _Position,
        on_progress: Progress | None,
        batch_lines: int,
    ) -> None:
        self.store = store
        self.source = source
        self.report = report
        self.position = position
        self.ingestor = Ingestor(store)
        self.on_progress = on_progress
        self.batch_lines = batch_lines
        self.batch = _Batch()
        self.applying: asyncio.Task[None] | None = None
        self.reported = position.offset  # what on_progress has heard of

    async def lines(self, lines: Iterable[bytes]) -> None:
        try:
            for line in lines:
                if _is_team_line(line):
                    await self.commit()
                    await self.applied()
                    self.position.advance(line)
                    await self.team_line(line)
                    continue
                self.position.advance(line)
                self.batch.lines += 1
                self.event(line)
                if self.batch.lines >= self.batch_lines:
                    await self.commit()
                elif self.applying is not None and self.batch.lines % self.YIELD_EVERY == 0:
                    if self.applying.done():  # a failure stops the import here
                        await self.applied()
                    await asyncio.sleep(0)
            await self.commit()
            await self.applied()
        finally:
            if self.applying is not None and not self.applying.done():
                self.applying.cancel()
                with suppress(asyncio.CancelledError):
                    await self.applying

    def event(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            event = self.ingestor.parse_document(orjson.loads(line))
        except orjson.JSONDecodeError:
            self.batch.rejected.append((self.position.line, "BAD_JSON: the line is not JSON"))
            return
        except GatewayError as e:
            self.batch.rejected.append((self.position.line, f"{e.code}: {e.message}"))
            return
        if isinstance(event, IgnoredEvent):
            self.batch.ignored += 1
        else:
            self.batch.events.append(event)

    async def team_line(self, line: bytes) -> None:
        """A team line where it stands: every line before it applied, its checkpoint with it."""
        try:
            document = orjson.loads(line)
            tid = fields.account(document["tid"], "tid")
            change = parse_member_change(tid, document)
            team_list = TeamList(change.team, tuple(change.members), _time(document))
        except orjson.JSONDecodeError:
            self.batch.rejected.append((self.position.line, "BAD_JSON: the line is not JSON"))
        except GatewayError as e:
            self.batch.rejected.append((self.position.line, f"{e.code}: {e.message}"))
        else:
            self.report.teams += 1
            batch = self.ended(_Batch())
            await self.store.import_team_list(team_list, self.checkpoint(batch, self.report))
            self.progressed(batch.offset, 1)
            return
        self.batch.lines += 1

    async def commit(self) -> None:
        """Hand the batch read so far to be applied once the one before it is (at most one is
        applied while the next is read)."""
        batch, self.batch = self.ended(self.batch), _Batch()
        if not batch.lines:
            return
        await self.applied()
        self.applying = asyncio.create_task(self.apply(batch))

    def ended(self, batch: _Batch) -> _Batch:
        p = self.position
        batch.line, batch.offset, batch.digest = p.line, p.offset, p.digest.hexdigest()
        return batch

    async def applied(self) -> None:
        if self.applying is not None:
            applying, self.applying = self.applying, None
            await applying

    async def apply(self, batch: _Batch) -> None:
        """Apply a batch (then what it leaves, one event at a time) and commit its position."""
        report = self.report
        report.ignored += batch.ignored
        report.rejected += batch.rejected
        if not batch.events:
            await self.save_checkpoint(batch)
            self.progressed(batch.offset, batch.lines)
            return

        def checkpoint(outcomes: Sequence[bool | None]) -> Checkpoint:
            after = ImportReport(**{**report.__dict__, "rejected": list(report.rejected)})
            for outcome in outcomes:
                after.count(bool(outcome))
            made = self.checkpoint(batch, after)
            assert made is not None  # asked for only with a source
            return made

        events = batch.events
        outcomes = await self.store.import_events(
            events, None if self.source is None else checkpoint
        )
        left = [event for event, outcome in zip(events, outcomes, strict=True) if outcome is None]
        for outcome in outcomes:
            if outcome is not None:
                report.count(outcome)
        for event in left:
            report.count(await self.ingestor.apply(event))
        if left:
            await self.save_checkpoint(batch)
        self.progressed(batch.offset, batch.lines)

    def checkpoint(self, batch: _Batch, report: ImportReport) -> Checkpoint | None:
        if self.source is None:
            return None
        return Checkpoint(self.source, batch.line, batch.offset, batch.digest, report.to_json())

    async def save_checkpoint(self, batch: _Batch) -> None:
        checkpoint = self.checkpoint(batch, self.report)
        if checkpoint is not None:
            await self.store.save_import_checkpoint(checkpoint)

    def progressed(self, offset: int, lines: int) -> None:
        """Tell of a commit that took the import to ``offset`` with ``lines`` more lines."""
        if self.on_progress is not None:
            self.on_progress(offset - self.reported, lines)
        self.reported = offset


def _is_team_line(line: bytes) -> bool:
    """A registry line: ``tid`` and no ``eventType`` (checked on the parsed line: a CC event's
    text may mention either)."""
    if b'"tid"' not in line:
        return False
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(document, dict) and "tid" in document and "eventType" not in document


def _time(document: dict[str, object]) -> int:
    value = document.get("time", 0)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**15:
        return value
    raise BadEvent("time of a team line must be milliseconds since the epoch")
