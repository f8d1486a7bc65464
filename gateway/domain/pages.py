"""Keyset paging over a viewer's list: newest ``update_time`` first, ties by key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.records import record
from gateway.domain.sessions import MAX_PAGE_SIZE, Message, Session
from gateway.domain.sync import SyncPosition
from gateway.errors import BadUserInput

# The widest window SQLite's INTEGER and PostgreSQL's BIGINT both hold.
EARLIEST = -(2**63)
LATEST = 2**63 - 1


@record
class TimeWindow:
    """Inclusive bounds on ``update_time``, in milliseconds since the epoch."""

    min_time: int = EARLIEST
    max_time: int = LATEST

    def __post_init__(self) -> None:
        if self.min_time > self.max_time:
            raise BadUserInput("minTimestamp is later than maxTimestamp")


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a session stands in the list; pages continue strictly after it. With pinned
    sessions first, a position in the pinned part also carries the pin time it is ordered by."""

    update_time: int
    key: SessionKey
    pinned_at: int | None = None

    @classmethod
    def of(cls, session: Session, *, pinned_first: bool = False) -> Position:
        pinned_at = session.pinned_at if pinned_first else None
        return cls(session.update_time, session.key, pinned_at)


@record
class Filters:
    """Which live sessions a list shows; None means "any"."""

    types: frozenset[SessionType] | None = None
    only_unread: bool = False
    pinned: bool | None = None
    muted: bool | None = None
    group_id: str | None = None  # only the sessions of this conversation group

    def __post_init__(self) -> None:
        if self.types is not None and not self.types:
            raise BadUserInput("types must name at least one session type")


@record
class PageQuery:
    window: TimeWindow
    limit: int = MAX_PAGE_SIZE
    after: Position | None = None
    filters: Filters = Filters()
    pinned_first: bool = False


@record
class Page:
    sessions: list[Session]
    has_more: bool
    sync_position: SyncPosition | None = None  # the change feed's position as of this page
    # When asked: each session's last message (None: it has none), in the order of ``sessions``.
    last_messages: Sequence[Message | None] = ()


def check_page_size(first: int | None) -> int:
    if first is None:
        return MAX_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(
            f"first must be between 1 and {MAX_PAGE_SIZE} (NIM's limit); got {first}"
        )
    return first
