"""LATE: a kick that arrives 10, 1,000 and 10,000 messages late, beside an on-time one, on the
same team in the same run, on each backend.

A 50-member team (more than NIM's 200 would send tMembers for, none here: the members are
known from the registry and the stream's own changes only) gets a history of plain messages,
one transaction each, through the store as the webhook calls it. Then each kick is applied the
same way and timed: a kick notification whose msgTimestamp falls between two messages of the
history, so that many messages already applied come after it. Each kind is measured ``ROUNDS``
times, interleaved, a different member kicked each time."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.membership import message_change
from gateway.domain.order import event_key
from gateway.domain.sessions import Message, MessageType
from gateway.store import PostgresStore, SqliteStore
from gateway.store.sql import SqlStore

TEAM = SessionKey(SessionType.TEAM, "late-team")
MEMBERS = [f"lm{n:02}" for n in range(50)]
BASE = 1_790_000_000_000
STEP = 10  # ms between the history's messages: a late kick fits between two of them
ROUNDS = 3
LATENESS = (10, 1_000, 10_000)
QUICK_LATENESS = (10, 100, 300)


def late_kicks(backend: str, database: str, *, quick: bool) -> dict[str, object]:
    lateness = QUICK_LATENESS if quick else LATENESS
    return asyncio.run(_run(backend, database, lateness))


async def _run(backend: str, database: str, lateness: Sequence[int]) -> dict[str, object]:
    store: SqlStore = PostgresStore(database) if backend == "postgres" else SqliteStore(database)
    history = max(lateness) + 20
    async with store:
        await store.set_team_members(TEAM, MEMBERS, BASE - 1)
        started = time.perf_counter()
        for n in range(history):
            await _send(store, n, BASE + n * STEP, MEMBERS[n % 20])
        fill_seconds = time.perf_counter() - started
        kicked = iter(MEMBERS[20:])
        timings: dict[str, list[float]] = {"on_time": [], **{str(n): [] for n in lateness}}
        newest = BASE + history * STEP
        for round_ in range(ROUNDS):
            for kind in timings:
                if kind == "on_time":
                    newest += STEP
                    at = newest
                else:  # between the message ``late`` before the newest and the one before it
                    at = BASE + (history - int(kind)) * STEP - STEP // 2 - round_
                timings[kind].append(await _kick(store, at, next(kicked)))
    return {
        "members": len(MEMBERS),
        "history": history,
        "fill_seconds": fill_seconds,
        "rounds": ROUNDS,
        **{kind: {"median_ms": statistics.median(ms), "ms": ms} for kind, ms in timings.items()},
    }


async def _send(store: SqlStore, n: int, at: int, sender: str) -> None:
    message = Message(f"{n + 1_000_000}", sender, MessageType.TEXT, at, text=f"message {n}",
                      conversation=str(TEAM))  # fmt: skip
    change = message_change(event_key(at, message.server_id), sender)
    await store.record_team_message(TEAM, message, change, at)


async def _kick(store: SqlStore, at: int, account: str) -> float:
    """Milliseconds to apply a kick of ``account`` at ``at``, by the team's first member."""
    server_id = f"{at}{account}"
    message = Message(server_id, MEMBERS[0], MessageType.NOTIFICATION, at,
                      attachment='{"id":2}', conversation=str(TEAM))  # fmt: skip
    change = message_change(event_key(at, server_id), MEMBERS[0], leaves=[account])
    started = time.perf_counter()
    await store.record_team_message(TEAM, message, change, at)
    return 1000 * (time.perf_counter() - started)
