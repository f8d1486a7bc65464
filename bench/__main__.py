"""Run every workload against its baselines and write docs/benchmarks/README.md + chart.png.

    python -m bench [--quick] [--out docs/benchmarks]
    python -m bench --only W1 --seconds 5 [--backends sqlite]   a focused run: prints figures
    python -m bench --only W9 --seconds 5    a page of one conversation group beside the list
    python -m bench --only W6                idle subscriptions' memory beside a bare endpoint
    python -m bench --only LATE              late kicks beside an on-time one, both backends
    python -m bench --only W7                `gateway import` of 30,000 and 300,000 events beside
                                             the bench's own batched floor (--quick: 2,000)
    python -m bench --only W8                an honest client beside issue 28's attacks
    python -m bench --only W8 --update       ... and its figures into docs/benchmarks' report
    python -m bench --beside REV             W1 also from the gateway of commit REV (a worktree
                                             of it on this checkout's libraries), in the same run
    python -m bench.cpu [--beside REV]       W1's CPU per request alone (the steady figure)


Needs wrk (installed with apt-get when missing), PostgreSQL at GATEWAY_TEST_POSTGRES_URL
(default postgresql://127.0.0.1:5432/test) and npm for the PostGraphile peer. Every load run
is bounded in time and talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, nullcontext
from pathlib import Path

import httpx
import orjson
from pydantic import SecretStr

from bench import cpu, data, groups, idle, importing, latekick, report
from bench.servers import (
    checkout,
    start_floor,
    start_gateway,
    start_hand_floor,
    start_postgraphile,
    start_team_floor,
)
from bench.wrk import graphql_script, run_wrk
from gateway.auth import issue_token
from gateway.domain.checksum import sign_request
from gateway.domain.cursors import CursorCodec
from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.pages import Position
from gateway.settings import Settings
from gateway.store import SqliteStore

JWT_SECRET = "bench-secret-bench-secret-bench-secret"
APP_SECRET = "bench-app-secret"
SETTINGS = Settings(jwt_secret=SecretStr(JWT_SECRET))
PAGE = (
    "{ sessions(first: 20) { edges { cursor node { id key updateTime unreadCount "
    "lastMessage { serverId from text time } } } pageInfo { hasNextPage endCursor } } }"
)
PEER_PAGE = (
    "{ allSessions(first: 20, orderBy: [UPDATE_TIME_DESC, KEY_DESC], "
    'condition: {owner: "viewer"}) { edges { cursor node { key updateTime unread '
    "messageByLastMsgId { serverId fromAccount text time } } } "
    "pageInfo { hasNextPage endCursor } } }"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds each: a smoke run")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument(
        "--only",
        help="comma-separated workloads (W1,W3): print their figures, write no report",
    )
    parser.add_argument("--seconds", type=int, help="seconds per load run (with --only)")
    parser.add_argument("--backends", default="sqlite,postgres", help="W1's backends (with --only)")
    parser.add_argument(
        "--beside",
        metavar="REV",
        help="W1 also runs the gateway of this commit (e.g. the main a change started from), "
        "beside this checkout's, in the same run",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="with --only: put the new figures into --out's report in place of the old ones",
    )
    args = parser.parse_args()
    ensure_wrk()
    if args.only:
        only = {w.strip().upper() for w in args.only.split(",")}
        backends = tuple(b.strip() for b in args.backends.split(","))
        focused = run(quick=args.quick, only=only, seconds=args.seconds, backends=backends,
                      beside=args.beside)  # fmt: skip
        print_figures(focused)
        if args.update:
            update(args.out, focused)
        return
    started = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}"
    results = {"started": started, **run(quick=args.quick, beside=args.beside)}
    args.out.mkdir(parents=True, exist_ok=True)
    report.write(args.out, results, machine=machine())
    # Every figure the report was made from, for a reader who wants more than its table.
    (args.out / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"report: {args.out / 'README.md'}, figures: {args.out / 'results.json'}")


def update(out: Path, focused: dict[str, object]) -> None:
    """The report in ``out`` with the workloads of a focused run in place of its own (each
    workload's figures are side by side with its baselines within its own run)."""
    results = orjson.loads((out / "results.json").read_bytes())
    if focused["quick"] != results["quick"] or focused["seconds"] != results["seconds"]:
        raise SystemExit("--update takes a run of the report's own kind (--quick, --seconds)")
    now = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}"
    measured = [name for name in focused if name not in ("quick", "seconds")]
    results.update({name: focused[name] for name in measured})
    results["updated"] = {**results.get("updated", {}), **dict.fromkeys(measured, now)}
    report.write(out, results, machine=machine())
    (out / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"report updated: {out / 'README.md'} ({', '.join(measured)})")


def print_figures(results: dict[str, object]) -> None:
    """One line per load run of a focused run (the runs of one workload ran side by side)."""
    for workload, figures in results.items():
        if not isinstance(figures, dict):
            continue
        for name, run in figures.items():
            if isinstance(run, dict) and "rps" in run:
                print(f"{workload} {name:<22} {run['rps']:8.0f} req/s  p50 {run['p50_ms']:7.1f} "
                      f"ms  p99 {run['p99_ms']:7.1f} ms  non-2xx {run['non_2xx']:.0f}")  # fmt: skip
            else:
                print(f"{workload} {name:<22} {orjson.dumps(run).decode()}")


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL
        )


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "?")
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), {system}, Python {platform.python_version()}"


def run(
    *,
    quick: bool,
    only: set[str] | None = None,
    seconds: int | None = None,
    backends: tuple[str, ...] = ("sqlite", "postgres"),
    beside: str | None = None,
) -> dict[str, object]:
    seconds = seconds or (1 if quick else 15)  # quick: a smoke run (the suite runs one)
    wanted = only or {"W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "LATE"}
    pg_base = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
    token = issue_token(SETTINGS, data.VIEWER, ttl_seconds=7200)
    results: dict[str, object] = {"quick": quick, "seconds": seconds}
    with tempfile.TemporaryDirectory() as tmp:
        small_sqlite, deep_sqlite = f"{tmp}/small.db", f"{tmp}/deep.db"
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        pg_url = f"{pg_base}?search_path={schema}"
        asyncio.run(data.execute(pg_base, f"CREATE SCHEMA {schema}"))
        try:
            # Only the databases the wanted workloads read (W2's 100,000 sessions take a while).
            if wanted - {"W2"}:
                asyncio.run(data.fill_sqlite(small_sqlite, 1000))
            if "W2" in wanted:
                asyncio.run(data.fill_sqlite(deep_sqlite, 2_000 if quick else 100_000))
            if "W1" in wanted and "postgres" in backends:
                asyncio.run(data.fill_postgres(pg_url, 1000))
                # PostGraphile follows foreign keys to offer `messageByLastMsgId` (the bench's
                # message ids are unique across conversations, so one can name a message).
                asyncio.run(
                    data.execute(
                        pg_url,
                        "CREATE UNIQUE INDEX bench_messages_by_id ON messages (server_id); "
                        "ALTER TABLE sessions ADD FOREIGN KEY (last_msg_id) "
                        "REFERENCES messages (server_id)",
                    )
                )
            if "W1" in wanted:
                _progress("W1")
                results["W1"] = w1(small_sqlite, pg_url, schema, pg_base, token, seconds,
                                   backends=backends, beside=beside)  # fmt: skip
            if "W1" in wanted and only is None:
                _progress("profile")
                results["profile"] = loadgen_module("bench.profile", small_sqlite,
                                                    "200" if quick else "2000")  # fmt: skip
            if "W9" in wanted:  # W1's databases, a group added to them
                _progress("W9")
                if "postgres" in backends and "W1" not in wanted:
                    asyncio.run(data.fill_postgres(pg_url, 1000))
                results["W9"] = groups.w9(small_sqlite, pg_url, backends, PAGE, token, seconds,
                                          gateway_env)  # fmt: skip
            if "W6" in wanted:
                _progress("W6")
                results["W6"] = idle.w6(gateway_env(small_sqlite), JWT_SECRET,
                                        100 if quick else 2_000)  # fmt: skip
            if "LATE" in wanted:  # a team of its own, on each backend
                _progress("LATE")
                results["LATE"] = {
                    backend: latekick.late_kicks(backend, database, quick=quick)
                    for backend, database in (("sqlite", f"{tmp}/late.db"), ("postgres", pg_url))
                    if backend in backends
                }
            if "W2" in wanted:
                _progress("W2")
                results["W2"] = w2(deep_sqlite, token, seconds, quick)
            if "W3" in wanted:
                _progress("W3")
                results["W3"] = w3(small_sqlite, seconds, rounds=1 if quick else 2)
            if "W4" in wanted:
                _progress("W4")
                results["W4"] = w4(small_sqlite, 20 if quick else 1000, 2 if quick else 20)
            if "W5" in wanted:
                _progress("W5")
                results["W5"] = w5(small_sqlite, token, 1_000 if quick else 100_000)
            if "W7" in wanted:
                _progress("W7")
                sizes = (2_000,) if quick else importing.SIZES
                results["W7"] = importing.w7(Path(tmp), pg_base, backends, sizes,
                                             rounds=1 if quick else importing.ROUNDS)  # fmt: skip
            if "W8" in wanted:  # its own process: it pins itself to the clients' CPUs
                _progress("W8")
                results["W8"] = loadgen_module("bench.attack", "--seconds", str(min(seconds, 20)))
        finally:
            _progress(None)
            asyncio.run(data.execute(pg_base, f"DROP SCHEMA {schema} CASCADE"))
    return results


_STARTED: list[tuple[str, float]] = []


def _progress(workload: str | None) -> None:
    """A line on stderr as each workload starts, with the time the one before it took."""
    now = time.monotonic()
    if _STARTED:
        name, began = _STARTED.pop()
        print(f"bench: {name} took {now - began:.0f} s", file=sys.stderr, flush=True)
    if workload is not None:
        print(f"bench: {workload}...", file=sys.stderr, flush=True)
        _STARTED.append((workload, now))


def register_team(gateway_url: str, team: str, members: list[str]) -> None:
    body = orjson.dumps({"type": "TEAM", "members": members})
    path = f"/nim/teams/{team}/members"
    headers = sign_request(APP_SECRET, "PUT", path, body, int(time.time() * 1000))
    url = f"{gateway_url}{path}"
    httpx.put(url, content=body, headers=headers, timeout=30).raise_for_status()


def gateway_env(database: str) -> dict[str, str]:
    return {
        "GATEWAY_DATABASE_URL": database,
        "GATEWAY_JWT_SECRET": JWT_SECRET,
        "GATEWAY_NIM_APP_SECRET": APP_SECRET,
        "GATEWAY_RATE_LIMIT_READS_PER_MINUTE": "0",
        "GATEWAY_RATE_LIMIT_WRITES_PER_MINUTE": "0",
        "GATEWAY_LOG_LEVEL": "warning",
        "GATEWAY_WS_MAX_CONNECTIONS_PER_ACCOUNT": "5",
    }


def w1(
    sqlite: str,
    pg_url: str,
    schema: str,
    pg_base: str,
    token: str,
    seconds: int,
    *,
    backends: tuple[str, ...] = ("sqlite", "postgres"),
    beside: str | None = None,
) -> dict[str, object]:
    """The page from the gateway, from the store floor and from the hand-written floor (and,
    with ``beside``, from the gateway of that commit), each run beside the others at 64 and 16
    connections."""
    out: dict[str, object] = {}
    gql = graphql_script(PAGE, token)
    with checkout(beside) if beside else nullcontext() as tree:
        if tree is not None:
            out["beside"] = subprocess.run(
                ["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
                capture_output=True, text=True, check=True,
            ).stdout.strip()[:100]  # fmt: skip
        for backend, database in (("sqlite", sqlite), ("postgres", pg_url)):
            if backend not in backends:
                continue
            others = {"floor": start_floor(database), "hand": start_hand_floor(database)}
            if tree is not None:
                env = {**gateway_env(database), "PYTHONPATH": str(tree)}
                others["beside"] = start_gateway(env)
            with start_gateway(gateway_env(database)) as gw, ExitStack() as stack:
                servers = {name: stack.enter_context(server) for name, server in others.items()}
                for conns in (64, 16):
                    out[f"{backend}_gateway_{conns}"] = run_wrk(gw.url("/graphql"), gql, conns,
                                                                seconds)  # fmt: skip
                    for name, server in servers.items():
                        path = "/graphql" if name == "beside" else "/page?first=20"
                        script = gql if name == "beside" else None
                        out[f"{backend}_{name}_{conns}"] = run_wrk(server.url(path), script,
                                                                   conns, seconds)  # fmt: skip
                # The steady figure: each server's CPU per request, in alternating rounds.
                targets = {"gateway": cpu.Target(gw, "/graphql", gql)}
                targets["hand"] = cpu.Target(servers["hand"], "/page?first=20", None)
                # What HTTP alone costs each: the gateway's /healthz, the floor's empty page.
                targets["gateway_edge"] = cpu.Target(gw, "/healthz", None)
                targets["hand_edge"] = cpu.Target(servers["hand"], "/page?first=0", None)
                if "beside" in servers:
                    targets["beside"] = cpu.Target(servers["beside"], "/graphql", gql)
                rounds = 4 if seconds >= 5 else 1
                out[f"{backend}_cpu"] = cpu.per_request(
                    targets, connections=16, seconds=min(seconds, 5), rounds=rounds
                )
    if "postgres" in backends:
        out.update(w1_workers_beside_peer(pg_url, pg_base, schema, gql, seconds))
    return out


def w1_workers_beside_peer(
    pg_url: str, pg_base: str, schema: str, gql: str, seconds: int
) -> dict[str, object]:
    """PostGraphile (one Node process) at 64 connections, beside the gateway on PostgreSQL with
    one worker process per core, as a deployment that uses the machine would run it."""
    out: dict[str, object] = {}
    workers = os.cpu_count() or 1
    peer = start_postgraphile(pg_base, schema) or nullcontext()
    with start_gateway(gateway_env(pg_url), workers=workers) as gw, peer as pg:
        out["postgres_workers"] = workers
        out["postgres_gateway_workers_64"] = run_wrk(gw.url("/graphql"), gql, 64, seconds)
        if pg is not None:
            out["postgres_peer_64"] = run_wrk(
                pg.url("/graphql"), graphql_script(PEER_PAGE, None), 64, seconds
            )
    return out


def w2(deep: str, token: str, seconds: int, quick: bool) -> dict[str, object]:
    sessions = 2_000 if quick else 100_000
    cursors = CursorCodec(SETTINGS.cursor_key())
    middle = sessions // 2
    key = SessionKey(SessionType.P2P, f"peer{middle:06}")
    cursor = cursors.encode(data.VIEWER, Position(data.BASE_TIME + middle, key))
    deep_page = PAGE.replace("sessions(first: 20)", f'sessions(first: 20, after: "{cursor}")')
    with start_gateway(gateway_env(deep)) as gw:
        first = run_wrk(gw.url("/graphql"), graphql_script(PAGE, token), 16, seconds)
        middle_run = run_wrk(gw.url("/graphql"), graphql_script(deep_page, token), 16, seconds)
    return {"sessions": sessions, "first": first, "middle": middle_run}


def w3(sqlite: str, seconds: int, rounds: int = 2) -> dict[str, object]:
    """Signed webhooks into the gateway beside a verify-only event, and team messages to a
    1,000-member team beside the SQL floor (bench/teamfloor.py: the same writes, hand-written,
    on its own database filled alike), the two alternated ``rounds`` times; each side's rate is
    over all its rounds."""
    out: dict[str, object] = {}
    members = [f"tm{n}" for n in range(1000)]
    floor_db = str(Path(sqlite).with_name("team-floor.db"))
    asyncio.run(data.fill_sqlite(floor_db, 1000))
    asyncio.run(_register_team_in(floor_db, "bench-team", members))
    with start_gateway(gateway_env(sqlite)) as gw, start_team_floor(floor_db, APP_SECRET) as floor:
        register_team(gw.url(""), "bench-team", members)
        for kind in ("noop", "p2p"):
            out[kind] = loadgen("webhooks", gw.url(""), APP_SECRET, str(seconds), "16", kind)
        runs: dict[str, list[dict[str, object]]] = {"team": [], "team_floor": []}
        for _ in range(rounds):
            for name, server in (("team", gw), ("team_floor", floor)):
                runs[name].append(
                    loadgen("webhooks", server.url(""), APP_SECRET, str(seconds), "16", "team")
                )
    for name, each in runs.items():
        requests = sum(int(str(r["requests"])) for r in each)
        elapsed = sum(float(str(r["seconds"])) for r in each)
        out[name] = {"requests": requests, "seconds": elapsed, "rate": requests / elapsed,
                     "rates": [r["rate"] for r in each]}  # fmt: skip
    return out


async def _register_team_in(path: str, team: str, members: list[str]) -> None:
    async with SqliteStore(path) as store:
        await store.set_team_members(SessionKey(SessionType.TEAM, team), members,
                                     int(time.time() * 1000))  # fmt: skip


def w4(sqlite: str, subscribers: int, messages: int) -> dict[str, object]:
    """One webhook fanned out to ``subscribers`` subscriptions: (team) a team message to a team
    whose every member subscribes once; (owner) a P2P message to one account that subscribes
    ``subscribers`` times (tabs, devices). The gateway and the load generator run on CPUs of
    their own (split_cpus); the team case runs once more without, reported beside."""
    out: dict[str, object] = {"subscribers": subscribers, "messages": messages}
    env = {**gateway_env(sqlite), "GATEWAY_WS_MAX_CONNECTIONS_PER_ACCOUNT": str(subscribers)}
    server_cpus, client_cpus = split_cpus()
    out["cpus"] = {"gateway": sorted(server_cpus), "load_generator": sorted(client_cpus)}
    for mode, target in (("team", "fan"), ("owner", "fan-owner"), ("team_unpinned", "fan")):
        pinned = mode != "team_unpinned"  # reported beside the pinned run, as it was measured
        with start_gateway(env) as gw:
            if pinned:
                pin(gw.process.pid, server_cpus)
            if mode.startswith("team"):
                register_team(gw.url(""), target, [f"{target}-m{n}" for n in range(subscribers)])
            out[mode] = loadgen(
                "fanout",
                gw.ws_url("/graphql"),
                gw.url(""),
                JWT_SECRET,
                APP_SECRET,
                mode.removesuffix("_unpinned"),
                target,
                str(subscribers),
                str(messages),
                str(gw.process.pid),
                cpus=client_cpus if pinned else None,
            )
    return out


def split_cpus() -> tuple[set[int], set[int]]:
    """This process's CPUs in two halves: one for a server, one for its load generator, which
    stands for clients on other machines. Sharing cores, the scheduler may wake the load
    generator on the server's core (loopback wake-ups are affine) in one run and not in the
    next; W4 reports the team case both ways."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(cpus), set(cpus)
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` (and those it starts later) to ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def w5(sqlite: str, token: str, requests: int) -> dict[str, object]:
    with start_gateway(gateway_env(sqlite)) as gw:
        warm = run_wrk(gw.url("/graphql"), graphql_script(PAGE, token), 16, 2)
        before = gw.rss_kib()
        served = 0
        started = time.monotonic()
        while served < requests and time.monotonic() - started < 600:
            served += int(
                run_wrk(
                    gw.url("/graphql"),
                    graphql_script(PAGE, token),
                    16,
                    2 if requests < 10_000 else 20,
                )["requests"]
            )
        after = gw.rss_kib()
    del warm
    return {
        "requests": served,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "growth": (after - before) / before,
    }


def loadgen(*args: str, cpus: set[int] | None = None) -> dict[str, object]:
    return loadgen_module("bench.loadgen", *args, cpus=cpus)


def loadgen_module(module: str, *args: str, cpus: set[int] | None = None) -> dict[str, object]:
    """Runs ``module`` in a process of its own (on ``cpus``, when given); its last line of
    output is its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )
    result: dict[str, object] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    main()
