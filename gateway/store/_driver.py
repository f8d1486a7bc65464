"""What the SQL store needs of a database (sqlite.py, postgres.py implement it): statements
written once with "?" placeholders, run on a connection; a dialect for the few fragments that
differ; reads, write transactions, and word of commits made by other processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gateway.store._rows import Row

T = TypeVar("T")

# Told the owners whose lists a commit elsewhere changed; None: anyone's may have.
RemoteChange = Callable[[frozenset[str] | None], None]


@dataclass(frozen=True, slots=True)
class Dialect:
    greatest: str
    """The function that returns the largest of its arguments."""
    elements: str
    """A FROM item of the rows (value, key) of one array parameter (a list of str): each element
    and its place, so that ``ORDER BY key`` keeps the list's order."""
    returning_from: float
    """The share of a fan-out's owners that must be watched for its statement to bring their
    changed rows back itself (RETURNING), rather than a second statement reading back only
    the watched owners' rows: whichever costs less."""
    temporary: str = ""
    """What ends ``CREATE TEMPORARY TABLE t (...)`` for a table that lives for one transaction."""
    long_transaction: str | None = None
    """What lifts the time limit of a transaction's statements (a bulk import's), if any."""
    analyze: str | None = None
    """What tells the planner about a table just filled (``{}``: its name), when it needs it."""
    duplicate_key: tuple[type[Exception], ...] = ()
    """What a statement raises when a row it inserts has the key of one there."""
    padded_time: str = "printf('%020d', time)"
    """A column ``time`` (ms, not negative) as 20-digit text, which sorts as the number does."""


class Connection(Protocol):
    async def fetch(self, statement: str, *params: object) -> Sequence[Row]: ...

    async def fetch_one(self, statement: str, *params: object) -> Row | None: ...

    async def execute(self, statement: str, *params: object) -> None: ...

    async def copy(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        """Insert ``rows`` into ``table`` by the backend's fastest way (executemany on SQLite,
        COPY on PostgreSQL): plain values, none of which may conflict with a row there."""


class Driver(Protocol):
    dialect: Dialect

    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...

    def read(
        self, *, snapshot: bool = False, bounded: bool = False
    ) -> AbstractAsyncContextManager[Connection]:
        """A connection to read with; with ``snapshot``, its reads all see one snapshot.
        ``bounded`` says each statement reads a bounded number of rows by an index (a page, a
        point read by key): a driver may run such reads on the caller's thread."""

    async def transaction(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """``work`` in one write transaction, committed; run again after a transient failure."""

    async def notify(self, db: Connection, owners: Collection[str]) -> None:
        """Inside the transaction: tell the other processes on this database, once it commits,
        whose lists it changed."""

    def on_remote_change(self, changed: RemoteChange) -> None:
        """Call ``changed`` when another process's commit changed someone's list."""
