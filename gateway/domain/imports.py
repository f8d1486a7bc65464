"""What a bulk import hands the store: a batch of parsed CC events, a team list from the file, and
where the import stands in its file (the checkpoint saved with the batch before it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.domain.events import MessageEvent, RecallEvent, TeamMessageEvent
from gateway.domain.keys import SessionKey

BulkEvent = MessageEvent | TeamMessageEvent | RecallEvent


@dataclass(frozen=True, slots=True)
class TeamList:
    """A file's ``{"tid", "type", "members", "time"}`` line: the team's members as of ``time``,
    as the registry's ``PUT /nim/teams/<tid>/members`` sets them."""

    team: SessionKey
    members: tuple[str, ...]
    time: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An import of ``source`` (a file, named by a digest of its first bytes) has applied its
    first ``line`` lines, the ``offset`` bytes whose SHA-256 is ``digest``; ``report`` is the
    JSON of its counts so far."""

    source: str
    line: int
    offset: int
    digest: str
    report: str


# Where the import will stand once a batch with these outcomes commits (store.import_events).
CheckpointAfter = Callable[[Sequence[bool | None]], Checkpoint]
