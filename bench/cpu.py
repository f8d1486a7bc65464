"""CPU time per request: what each server process spends on one W1 page, read from /proc while
wrk drives it. Latency and rate on a shared two-core machine swing 15-30% between runs; the CPU
a process spends per answer moves far less, so it is the figure that says whether a change made
the gateway cheaper. Servers are driven in turn, round after round (A B C A B C ...), so a burst
of outside load falls on all of them alike.

    python -m bench.cpu [--beside REV] [--backends sqlite,postgres] [--rounds 6] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from bench import data
from bench.servers import Server, checkout, start_gateway, start_hand_floor
from bench.wrk import graphql_script, run_wrk

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system time of the process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


@dataclass
class Target:
    server: Server
    path: str
    script: str | None  # wrk's Lua script (a GraphQL POST), or None for a GET


def per_request(
    targets: Mapping[str, Target], *, connections: int, seconds: int, rounds: int
) -> dict[str, dict[str, float]]:
    """For each target: microseconds of its process's CPU per answered request, and requests
    per second, over ``rounds`` turns of ``seconds`` each."""
    spent = dict.fromkeys(targets, 0.0)
    answered = dict.fromkeys(targets, 0.0)
    elapsed = dict.fromkeys(targets, 0.0)
    for _ in range(rounds):
        for name, target in targets.items():
            before = cpu_seconds(target.server.process.pid)
            run = run_wrk(target.server.url(target.path), target.script, connections, seconds)
            spent[name] += cpu_seconds(target.server.process.pid) - before
            answered[name] += run["requests"] - run["non_2xx"]
            elapsed[name] += seconds
    return {
        name: {
            "cpu_us_per_request": round(spent[name] / max(answered[name], 1) * 1e6, 1),
            "rps": round(answered[name] / elapsed[name], 1),
        }
        for name in targets
    }


@contextmanager
def _targets(
    database: str, env: dict[str, str], gql: str, tree: Path | None
) -> Iterator[dict[str, Target]]:
    with ExitStack() as stack:
        targets = {
            "gateway": Target(stack.enter_context(start_gateway(env)), "/graphql", gql),
            "hand": Target(stack.enter_context(start_hand_floor(database)), "/page?first=20", None),
        }
        if tree is not None:
            beside = start_gateway({**env, "PYTHONPATH": str(tree)})
            targets["beside"] = Target(stack.enter_context(beside), "/graphql", gql)
        yield targets


def measure(
    sqlite: str,
    pg_url: str | None,
    token: str,
    *,
    beside: str | None = None,
    connections: int = 16,
    seconds: int = 5,
    rounds: int = 6,
) -> dict[str, object]:
    """W1's CPU per request on each backend (PostgreSQL when ``pg_url``): the gateway, the
    hand-written floor and, with ``beside``, the gateway of that commit."""
    from bench.__main__ import PAGE, gateway_env

    gql = graphql_script(PAGE, token)
    out: dict[str, object] = {"connections": connections, "seconds": seconds, "rounds": rounds}
    databases = {"sqlite": sqlite} | ({"postgres": pg_url} if pg_url else {})
    with checkout(beside) if beside else nullcontext() as tree:
        for backend, database in databases.items():
            with _targets(database, gateway_env(database), gql, tree) as targets:
                figures = per_request(
                    targets, connections=connections, seconds=seconds, rounds=rounds
                )
            out[backend] = figures
    return out


def main() -> None:
    from bench.__main__ import SETTINGS
    from gateway.auth import issue_token

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beside", help="also the gateway of this commit")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    backends = args.backends.split(",")
    pg_base = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
    token = issue_token(SETTINGS, data.VIEWER, ttl_seconds=7200)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"{tmp}/small.db"
        asyncio.run(data.fill_sqlite(sqlite, 1000))
        pg_url = None
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        if "postgres" in backends:
            pg_url = f"{pg_base}?search_path={schema}"
            asyncio.run(data.execute(pg_base, f"CREATE SCHEMA {schema}"))
            asyncio.run(data.fill_postgres(pg_url, 1000))
        try:
            figures = measure(sqlite, pg_url, token, beside=args.beside,
                              connections=args.connections, seconds=args.seconds,
                              rounds=args.rounds)  # fmt: skip
        finally:
            if pg_url:
                asyncio.run(data.execute(pg_base, f"DROP SCHEMA {schema} CASCADE"))
    for backend in backends:
        rows = figures[backend]
        assert isinstance(rows, dict)
        hand = rows["hand"]["cpu_us_per_request"]
        for name, row in rows.items():
            ratio = hand / row["cpu_us_per_request"]
            print(f"{backend:9} {name:8} {row['cpu_us_per_request']:8.1f} us/request "
                  f"{row['rps']:8.1f} req/s  hand/this {ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
