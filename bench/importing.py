"""W7: `gateway import` of a CC history beside a floor of the bench's own, same run, per backend.

The history: 80% P2P messages among ACCOUNTS accounts, 20% messages to 50-member teams (each with
its ``tMembers``, as NIM lists the members of a team of up to 200), times and ids growing, the
accounts and team ids digits as NIM's often are. The floor is what a careful engineer would write
for this one file: parse each line, reduce it to the last message and unread count per (owner,
session), and write the messages and sessions in one transaction of bulk inserts (executemany on
SQLite, COPY on PostgreSQL) into the same schema. It knows nothing of recalls, deletions,
membership changes or what the database held before; the gateway's import applies every rule of
the webhook.

    python -m bench.importing EVENTS               the two, side by side, on SQLite and PostgreSQL
    python -m bench.importing --floor DATABASE FILE   the floor alone
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import orjson

from bench import data
from gateway.domain.keys import p2p_conversation
from gateway.store import PostgresStore, SqliteStore

ACCOUNTS = 5_000
TEAM_SIZE = 50
TEAMS = 200
TEAM_SHARE = 0.2
BASE_TIME = 1_790_000_000_000
FIRST_ID = 9_999_990  # ids grow a digit early on: text order is not number order


def history(events: int, seed: int = 7) -> Iterator[bytes]:
    """The bench's CC history, one JSON line an event."""
    rng = random.Random(seed)
    accounts = [str(100_000 + n) for n in range(ACCOUNTS)]
    teams = {str(700 + t): sorted(rng.sample(accounts, TEAM_SIZE)) for t in range(TEAMS)}
    team_ids = sorted(teams)
    when = BASE_TIME
    for n in range(events):
        when += rng.randint(0, 3)
        msgid = str(FIRST_ID + n)
        if rng.random() < TEAM_SHARE:
            tid = rng.choice(team_ids)
            members = teams[tid]
            sender = rng.choice(members)
            event = {"eventType": "1", "convType": "TEAM", "to": tid, "fromAccount": sender,
                     "msgTimestamp": str(when), "msgType": "TEXT", "body": f"team message {n}",
                     "msgidClient": f"c{n}", "msgidServer": msgid,
                     "tMembers": f"[{', '.join(members)}]"}  # fmt: skip
        else:
            sender, to = rng.sample(accounts, 2)
            event = {"eventType": "1", "convType": "PERSON", "to": to, "fromAccount": sender,
                     "msgTimestamp": str(when), "msgType": "TEXT", "body": f"message {n}",
                     "msgidClient": f"c{n}", "msgidServer": msgid}  # fmt: skip
        yield orjson.dumps(event)


def write_history(path: Path, events: int) -> None:
    with path.open("wb") as out:
        for line in history(events):
            out.write(line + b"\n")


# The floor ---------------------------------------------------------------------------------

_MESSAGE_COLUMNS = ("server_id", "conversation", "client_id", "from_account", "type", "time",
                    "text", "team_key")  # fmt: skip
_SESSION_COLUMNS = ("owner", "key", "kind", "update_time", "last_kind", "last_msg_id",
                    "last_msg_time", "unread", "version")  # fmt: skip

Reduced = tuple[list[tuple[object, ...]], list[tuple[object, ...]]]


def reduce(path: Path) -> Reduced:
    """Every message once, and per (owner, session) its last message and unread count."""
    messages: list[tuple[object, ...]] = []
    seen: set[tuple[str, str]] = set()
    sessions: dict[tuple[str, str], list[object]] = {}
    with path.open("rb") as lines:
        for line in lines:
            e = orjson.loads(line)
            sender, to, msgid = e["fromAccount"], e["to"], e["msgidServer"]
            at = int(e["msgTimestamp"])
            order = (at, int(msgid))
            if e["convType"] == "TEAM":
                conversation = team_key = f"team|{to}"
                receivers = [(m, team_key) for m in e["tMembers"][1:-1].split(", ")]
            else:
                conversation, team_key = p2p_conversation(sender, to), None
                receivers = [(sender, f"p2p|{to}"), (to, f"p2p|{sender}")]
            if (msgid, conversation) in seen:
                continue
            seen.add((msgid, conversation))
            messages.append((msgid, conversation, e.get("msgidClient"), sender,
                             e.get("msgType", "TEXT"), at, e.get("body"), team_key))  # fmt: skip
            for owner, key in receivers:
                unread = int(owner != sender)
                found = sessions.get((owner, key))
                if found is None:
                    sessions[owner, key] = [order, msgid, at, unread]
                    continue
                if order > found[0]:  # type: ignore[operator]
                    found[0:3] = [order, msgid, at]
                found[3] = int(found[3]) + unread  # type: ignore[call-overload]
    rows: list[tuple[object, ...]] = [
            (owner, key, 0 if key.startswith("p2p|") else 1, at, 0, msgid, at, unread, 1)
            for (owner, key), (_, msgid, at, unread) in sessions.items()
    ]  # fmt: skip
    return messages, rows


def floor_sqlite(db: str, path: Path) -> None:
    messages, sessions = reduce(path)
    with sqlite3.connect(db, isolation_level=None) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")  # as the gateway's
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(_insert("messages", _MESSAGE_COLUMNS), messages)
        connection.executemany(_insert("sessions", _SESSION_COLUMNS), sessions)
        connection.execute("COMMIT")


async def floor_postgres(url: str, path: Path) -> None:
    messages, sessions = reduce(path)
    schema = url.rpartition("search_path=")[2]
    db = await asyncpg.connect(url)
    try:
        async with db.transaction():
            await db.copy_records_to_table("messages", records=messages, columns=_MESSAGE_COLUMNS,
                                           schema_name=schema)  # fmt: skip
            await db.copy_records_to_table("sessions", records=sessions, columns=_SESSION_COLUMNS,
                                           schema_name=schema)  # fmt: skip
    finally:
        await db.close()


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608 (constants)


# The workload ------------------------------------------------------------------------------


SIZES = (30_000, 300_000)
ROUNDS = 2  # floor and gateway alternate; each side's best round is reported


def w7(
    work: Path,
    pg_base: str,
    backends: tuple[str, ...],
    sizes: tuple[int, ...],
    rounds: int = ROUNDS,
) -> dict[str, object]:
    """Per size and backend, ROUNDS times: the floor, then `gateway import` of the same file, each
    a command of its own (a process: its start-up counts) into a fresh database of its own."""
    out: dict[str, object] = {"sizes": list(sizes), "rounds": rounds}
    for events in sizes:
        history_file = work / f"history-{events}.jsonl"
        write_history(history_file, events)
        for backend in backends:
            runs: dict[str, list[float]] = {"floor": [], "gateway": []}
            for _ in range(rounds):
                for side, command in (("floor", _floor_command), ("gateway", _import_command)):
                    database, drop = _database(work, pg_base, backend, migrated=side == "floor")
                    try:
                        runs[side].append(_seconds(command(database, history_file), database))
                    finally:
                        drop()
            floor_s, gateway_s = min(runs["floor"]), min(runs["gateway"])
            out[f"{backend}_{events}"] = {
                "events": events,
                "floor_s": floor_s,
                "gateway_s": gateway_s,
                "floor_rate": events / floor_s,
                "gateway_rate": events / gateway_s,
                "ratio": floor_s / gateway_s,
                "runs": runs,
            }
        history_file.unlink()
    return out


def _import_command(database: str, history_file: Path) -> list[str]:
    return [sys.executable, "-m", "gateway", "import", str(history_file), "--strict"]


def _floor_command(database: str, history_file: Path) -> list[str]:
    return [sys.executable, "-m", "bench.importing", "--floor", database, str(history_file)]


def _seconds(command: list[str], database: str) -> float:
    """Seconds ``command`` takes, from its process's start to its exit."""
    env = {**os.environ, "GATEWAY_DATABASE_URL": database, "GATEWAY_LOG_LEVEL": "warning"}
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - started


def _database(
    work: Path, pg_base: str, backend: str, *, migrated: bool
) -> tuple[str, Callable[[], None]]:
    """A fresh database (migrated, for the floor: the gateway migrates its own), and what drops
    it."""
    if backend == "sqlite":
        path = str(work / f"w7-{uuid.uuid4().hex[:8]}.db")
        if migrated:
            asyncio.run(_migrated(SqliteStore(path)))

        def drop_file() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)

        return path, drop_file
    schema = f"w7_{uuid.uuid4().hex[:8]}"
    asyncio.run(data.execute(pg_base, f"CREATE SCHEMA {schema}"))
    url = f"{pg_base}?search_path={schema}"
    if migrated:
        asyncio.run(_migrated(PostgresStore(url)))

    def drop_schema() -> None:
        asyncio.run(data.execute(pg_base, f"DROP SCHEMA {schema} CASCADE"))

    return url, drop_schema


async def _migrated(store: SqliteStore | PostgresStore) -> None:
    async with store:
        pass


def main() -> None:
    if sys.argv[1:2] == ["--floor"]:  # the floor, as a command: DATABASE FILE
        database, history_file = sys.argv[2], Path(sys.argv[3])
        if database.startswith("postgresql"):
            asyncio.run(floor_postgres(database, history_file))
        else:
            floor_sqlite(database, history_file)
        return
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    base = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
    with tempfile.TemporaryDirectory() as tmp:
        print(orjson.dumps(w7(Path(tmp), base, ("sqlite", "postgres"), (size,))).decode())


if __name__ == "__main__":
    main()
