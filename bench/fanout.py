"""W4: one webhook fanned out to ``subscribers`` subscriptions (bench/loadgen.py's ``fanout``):
p50 and p99 from the webhook sent to each event received, and the gateway's CPU per message.

(team) a team message to a team whose every member subscribes once; (owner) a P2P message to
one account that subscribes ``subscribers`` times (tabs, devices). The gateway and the load
generator run on CPUs of their own (``split_cpus``); the team case runs once more without,
reported beside.

Beside the gateway of another commit (``beside``, a ``checkout``), both cases also run on that
gateway and on this checkout's, each on a database of its own (the same sessions, in the
schema its own gateway migrates) and in a process of its own for each run, alternating for
``rounds`` rounds (this, that; that, this; ...): what else the machine runs meanwhile falls on
both. One run's p99 swings by a third on a shared machine; its CPU per message (the gateway's
user and system time, /proc) much less, so that is the ratio to read first."""

from __future__ import annotations

import asyncio
import math
import statistics
from pathlib import Path
from typing import Any

from bench import data
from bench.servers import (
    Server,
    described,
    loadgen_module,
    pin,
    register_team,
    split_cpus,
    start_gateway,
)

ROUNDS = 3
SESSIONS = 1000  # of data.VIEWER in each side-by-side database, as in W1's
CASES = (("team", "fan"), ("owner", "fan-owner"))
SIDES = ("this", "beside")


def w4(
    env: dict[str, str],
    jwt_secret: str,
    app_secret: str,
    *,
    subscribers: int,
    messages: int,
    beside: Path | None = None,
    rounds: int = ROUNDS,
) -> dict[str, object]:
    out: dict[str, object] = {"subscribers": subscribers, "messages": messages}
    env = {**env, "GATEWAY_WS_MAX_CONNECTIONS_PER_ACCOUNT": str(subscribers)}
    server_cpus, client_cpus = split_cpus()
    out["cpus"] = {"gateway": sorted(server_cpus), "load_generator": sorted(client_cpus)}
    load = _Load(jwt_secret, app_secret, subscribers, messages)
    for mode, target in (*CASES, ("team_unpinned", "fan")):
        pinned = mode != "team_unpinned"  # reported beside the pinned run, as it was measured
        with start_gateway(env) as gw:
            if pinned:
                pin(gw.process.pid, server_cpus)
            load.prepare(gw, mode, target)
            out[mode] = load.run(gw, mode, target, client_cpus if pinned else None)
    if beside is not None:
        out["beside"] = side_by_side(env, beside, load, rounds)
    return out


def side_by_side(env: dict[str, str], tree: Path, load: _Load, rounds: int) -> dict[str, Any]:
    """Each case on this checkout's gateway and on ``tree``'s, alternating for ``rounds``
    rounds; each side's figures are its rounds' medians."""
    out: dict[str, Any] = {"commit": described(tree), "rounds": rounds}
    # Each on a database of its own with the same data, which its own store migrated (a
    # gateway refuses a schema newer than it knows), and neither sees the other's messages.
    database = Path(env["GATEWAY_DATABASE_URL"])
    this = str(database.with_name(f"{database.stem}-w4-this.db"))
    asyncio.run(data.fill_sqlite(this, SESSIONS))
    with data.migrated_by(tree, str(database), SESSIONS, env) as that:
        envs = {"this": {**env, "GATEWAY_DATABASE_URL": this},
                "beside": {**env, "GATEWAY_DATABASE_URL": that}}  # fmt: skip
        for mode, target in CASES:
            out[mode] = _alternated(envs, tree, load, mode, target, rounds)
    return out


def _alternated(
    envs: dict[str, dict[str, str]], tree: Path, load: _Load, mode: str, target: str, rounds: int
) -> dict[str, Any]:
    """One case on each side in turn (this, that; that, this; ...), ``rounds`` runs each."""
    server_cpus, client_cpus = split_cpus()
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for n in range(rounds):
        for side in SIDES if n % 2 == 0 else SIDES[::-1]:
            # A gateway of its own for each run, as W4's others have, and nothing beside it:
            # one that had just closed a run's thousand sockets spent CPU 0 on them.
            with start_gateway(envs[side], tree=tree if side == "beside" else None) as gw:
                pin(gw.process.pid, server_cpus)
                load.prepare(gw, mode, target)
                run = load.run(gw, mode, target, client_cpus)
            run.pop("last_frame_ms_by_message", None)
            runs[side].append(run)
    return {side: _medians(each) for side, each in runs.items()}


def ratios(w4: dict[str, Any], mode: str) -> tuple[float, float] | None:
    """This checkout's gateway over the other commit's, in the side-by-side rounds: CPU per
    message and p99 (medians of the rounds); None without those rounds. A ratio over nothing
    (a smoke run's few messages can take under a clock tick of CPU) is NaN."""
    case = (w4.get("beside") or {}).get(mode)
    if case is None:
        return None
    this, that = case["this"], case["beside"]

    def over(figure: str) -> float:
        return float(this[figure] / that[figure]) if that[figure] > 0 else math.nan

    return over("server_cpu_ms_per_message"), over("p99_ms")


def summary(w4: dict[str, Any]) -> list[str]:
    """One line per case of the side-by-side rounds, for a focused run's output."""
    beside = w4.get("beside")
    if not beside:
        return []
    lines = []
    for mode, _ in CASES:
        this, that = beside[mode]["this"], beside[mode]["beside"]
        cpu, p99 = ratios(w4, mode) or (0.0, 0.0)
        lines.append(
            f"W4 {mode} vs {beside['commit'].split()[0]} ({beside['rounds']} rounds each): "
            f"gateway CPU {cpu:.2f}x ({_rounds(this, 'server_cpu_ms_per_message')} vs "
            f"{_rounds(that, 'server_cpu_ms_per_message')} ms per message), "
            f"p99 {p99:.2f}x ({_rounds(this, 'p99_ms')} vs {_rounds(that, 'p99_ms')} ms), "
            f"events {this['events']}/{this['expected']} and {that['events']}/{that['expected']}"
        )
    return lines


def _rounds(side: dict[str, Any], figure: str) -> str:
    return f"{side[figure]:.1f} [{', '.join(f'{v:.1f}' for v in side['rounds'][figure])}]"


_FIGURES = ("p50_ms", "p99_ms", "server_cpu_ms_per_message", "loadgen_cpu_ms_per_message",
            "first_frame_ms", "last_frame_ms", "warm_up_max_ms")  # fmt: skip


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs' medians, their events summed, and each run's figures in order."""
    out: dict[str, Any] = {
        "events": sum(r["events"] for r in runs),
        "expected": sum(r["expected"] for r in runs),
        "rounds": {f: [r[f] for r in runs] for f in _FIGURES if all(f in r for r in runs)},
    }
    out.update((f, statistics.median(values)) for f, values in out["rounds"].items())
    return out


class _Load:
    """bench/loadgen.py's fan-out, with what every run shares."""

    def __init__(self, jwt_secret: str, app_secret: str, subscribers: int, messages: int):
        self.jwt_secret, self.app_secret = jwt_secret, app_secret
        self.subscribers, self.messages = subscribers, messages

    def prepare(self, gw: Server, mode: str, target: str) -> None:
        if mode.startswith("team"):
            members = [f"{target}-m{n}" for n in range(self.subscribers)]
            register_team(gw.url(""), self.app_secret, target, members)

    def run(self, gw: Server, mode: str, target: str, cpus: set[int] | None) -> dict[str, Any]:
        return loadgen_module(
            "bench.loadgen",
            "fanout",
            gw.ws_url("/graphql"),
            gw.url(""),
            self.jwt_secret,
            self.app_secret,
            mode.removesuffix("_unpinned"),
            target,
            str(self.subscribers),
            str(self.messages),
            str(gw.process.pid),
            cpus=cpus,
        )
