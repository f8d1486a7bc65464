"""Work a store does once, in Python, when it first opens after a migration asked for it: the
migration leaves a row in ``upgrade_tasks``, and the row goes once the work is done (it can run
again, as can each of its steps, if the process stops halfway or two replicas start at once).

``id order`` (migration 0008): events of one millisecond order by ``msgidServer`` as an unsigned
integer, where earlier releases compared the ids as text. Wherever that decided differently (ids
of different lengths, or numbers beside other text, in one millisecond) what followed from the
old order is made again: each such team's sessions and members are rebuilt from its history, and
a P2P session whose last message lost such a tie gets the message that wins it now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.order import id_order
from gateway.domain.sessions import RevokeNotification
from gateway.store import _teams as teams
from gateway.store._lists import MESSAGE_COLUMNS
from gateway.store._rows import key_from_db, last_message_values, message_from_row, opt_str
from gateway.store._write import Write

T = TypeVar("T")


class Transaction(Protocol):
    """Runs ``work`` in a write transaction of its own (SqlStore._write)."""

    def __call__(self, work: Callable[[Write], Awaitable[T]]) -> Awaitable[T]: ...


_PENDING = "SELECT 1 FROM upgrade_tasks WHERE name = ?"
_DONE = "DELETE FROM upgrade_tasks WHERE name = ?"
# The (conversation, time) pairs whose messages text order and number order may rank apart.
_TIES = """
SELECT conversation, time FROM messages WHERE conversation NOT LIKE '?%'
GROUP BY conversation, time
HAVING count(*) > 1 AND (min(length(server_id)) <> max(length(server_id))
                         OR min(substr(order_key, 1, 1)) <> max(substr(order_key, 1, 1)))
ORDER BY conversation, time
"""
_NEWEST_AT = f"""
SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation = ? AND time = ?
ORDER BY order_key DESC LIMIT 1
"""
_RECALL = (
    "SELECT operator, time, postscript FROM revocations "
    "WHERE message_server_id = ? AND conversation = ?"
)
_LAST = "SELECT last_msg_time, last_msg_order FROM sessions WHERE owner = ? AND key = ?"


async def run_pending(transaction: Transaction, now: int) -> None:
    """Do what the migrations left to do (a read when there is nothing)."""

    async def pending(tx: Write) -> bool:
        return bool(await tx.rows(_PENDING, "id order"))

    if not await transaction(pending):
        return

    async def ties(tx: Write) -> list[tuple[str, int]]:
        return [(str(c), int(t)) for c, t in await tx.rows(_TIES)]

    found = await transaction(ties)
    for team in sorted({c for c, _ in found if not c.startswith("p2p|")}):
        await transaction(_rebuilt(key_from_db(team), now))
    p2p = [(c, t) for c, t in found if c.startswith("p2p|")]

    async def retied(tx: Write) -> None:
        await _retie(tx, p2p)
        await tx.rows(_DONE, "id order")

    await transaction(retied)


def _rebuilt(team: SessionKey, now: int) -> Callable[[Write], Awaitable[None]]:
    async def work(tx: Write) -> None:
        await tx.lock_team(team)
        await teams.recompute(tx, team, now)

    return work


async def _retie(tx: Write, ties: list[tuple[str, int]]) -> None:
    """Give each P2P session whose last message is in a tie the message that wins it now."""
    wins = []
    for conversation, time in ties:
        low, _, high = conversation.removeprefix("p2p|").partition(" ")
        row = await tx.db.fetch_one(_NEWEST_AT, conversation, time)
        assert row is not None
        newest = message_from_row(row)
        for owner, peer in {(low, high), (high, low)}:
            key = SessionKey(SessionType.P2P, peer)
            last = await tx.db.fetch_one(_LAST, owner, str(key))
            if last is not None and last[0] == time and str(last[1]) < id_order(newest.server_id):
                wins.append((owner, key, newest))
    await tx.lock(owner for owner, _, _ in wins)
    for owner, key, message in wins:
        found = await tx.db.fetch_one(_RECALL, message.server_id, message.conversation)
        revoke = None
        if found is not None:
            revoke = RevokeNotification(message.server_id, str(found[0]), int(found[1]),
                                        opt_str(found[2]))  # fmt: skip
        await tx.deliver(owner, key, last_message_values(message, revoke), 0)
