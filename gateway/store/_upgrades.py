"""Work a store does once, in Python, when it first opens after a migration asked for it: the
migration leaves a row in ``upgrade_tasks``, and the row goes once the work is done (it can run
again, as can each of its steps, if the process stops halfway or two replicas start at once).

``id order`` (migration 0009): events of one millisecond order by ``msgidServer`` as an unsigned
integer, where earlier releases compared the ids as text. Each team where that can decide
differently (ids of different lengths, or numbers beside other text, in one millisecond) has its
sessions and members rebuilt from its history. A P2P session keeps what it shows: earlier
releases did not keep whom a P2P message went to, so the message that wins a tie now, never
having been anyone's last message, names no peer (its next message brings the session up to date).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from gateway.domain.keys import SessionKey
from gateway.store import _teams as teams
from gateway.store._rows import key_from_db
from gateway.store._write import Write

T = TypeVar("T")


class Transaction(Protocol):
    """Runs ``work`` in a write transaction of its own (SqlStore._write)."""

    def __call__(self, work: Callable[[Write], Awaitable[T]]) -> Awaitable[T]: ...


_PENDING = "SELECT 1 FROM upgrade_tasks WHERE name = ?"
_DONE = "DELETE FROM upgrade_tasks WHERE name = ?"
# The teams with messages of one millisecond that text order and number order may rank apart.
_TIED_TEAMS = """
SELECT DISTINCT team_key FROM (
    SELECT team_key FROM messages WHERE team_key IS NOT NULL GROUP BY team_key, time
    HAVING count(*) > 1 AND (min(length(server_id)) <> max(length(server_id))
                             OR min(substr(order_key, 1, 1)) <> max(substr(order_key, 1, 1)))
) AS tied ORDER BY team_key
"""


async def run_pending(transaction: Transaction, now: int) -> None:
    """Do what the migrations left to do (one read when there is nothing)."""

    async def pending(tx: Write) -> list[str] | None:
        if not await tx.rows(_PENDING, "id order"):
            return None
        return [str(team) for (team,) in await tx.rows(_TIED_TEAMS)]

    tied = await transaction(pending)
    if tied is None:
        return
    for team in tied:  # a transaction each: each locks its team before any owner
        await transaction(_rebuilt(key_from_db(team), now))

    async def done(tx: Write) -> None:
        await tx.rows(_DONE, "id order")

    await transaction(done)


def _rebuilt(team: SessionKey, now: int) -> Callable[[Write], Awaitable[None]]:
    async def work(tx: Write) -> None:
        await tx.lock_team(team)
        await teams.recompute(tx, team, now)

    return work
