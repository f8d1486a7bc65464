"""W9: a page of one conversation group beside a page of the whole list, W1's page and shape
(20 sessions with their last messages, 16 connections), on the same database in the same run.
The group holds every other session of the viewer's 1,000, so its page reads past nothing
only if it walks an index of its own."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

import asyncpg

from bench import data
from bench.servers import start_gateway
from bench.wrk import graphql_script, run_wrk

GROUP = "bench"
CONNECTIONS = 16
ROUNDS = 2  # whole list and group alternate, so a slow stretch of the machine hits both


def group_page(page: str) -> str:
    return page.replace("sessions(first: 20)", f'sessions(first: 20, groupId: "{GROUP}")')


def fill_group_sqlite(path: str) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(_group_sql(data.VIEWER, data.BASE_TIME))


async def fill_group_postgres(url: str) -> None:
    db = await asyncpg.connect(url)
    try:
        await db.execute(_group_sql(data.VIEWER, data.BASE_TIME))
        await db.execute("ANALYZE")
    finally:
        await db.close()


def _group_sql(viewer: str, now: int) -> str:
    """Every other session in the group (both backends accept it)."""
    even = f"owner = '{viewer}' AND CAST(substr(key, 9) AS INTEGER) % 2 = 0"
    return f"""
INSERT INTO session_groups (owner, group_id, name, server_ext, create_time, update_time, version)
    VALUES ('{viewer}', '{GROUP}', 'Bench', '', {now}, {now}, 0);
INSERT INTO session_group_members (owner, group_id, key, update_time)
    SELECT owner, '{GROUP}', key, update_time FROM sessions WHERE {even};
UPDATE sessions SET in_groups = 1 WHERE {even};
"""  # noqa: S608 (constants only)


def w9(
    sqlite: str,
    pg_url: str,
    backends: tuple[str, ...],
    page: str,
    token: str,
    seconds: int,
    env: Callable[[str], dict[str, str]],
) -> dict[str, object]:
    """Per backend: the whole list's page and the group's page, alternating, ROUNDS each (the
    databases hold W1's data; the group is added here)."""
    out: dict[str, object] = {"connections": CONNECTIONS, "group_size": 500}
    whole, grouped = graphql_script(page, token), graphql_script(group_page(page), token)
    for backend, database in (("sqlite", sqlite), ("postgres", pg_url)):
        if backend not in backends:
            continue
        if backend == "sqlite":
            fill_group_sqlite(database)
        else:
            asyncio.run(fill_group_postgres(database))
        runs: dict[str, list[dict[str, float]]] = {"whole": [], "group": []}
        with start_gateway(env(database)) as gw:
            for _ in range(ROUNDS):
                runs["whole"].append(run_wrk(gw.url("/graphql"), whole, CONNECTIONS, seconds))
                runs["group"].append(run_wrk(gw.url("/graphql"), grouped, CONNECTIONS, seconds))
        for name, measured in runs.items():
            out[f"{backend}_{name}"] = _mean(measured)
    return out


def _mean(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(run[key] for run in runs) / len(runs) for key in runs[0]}
