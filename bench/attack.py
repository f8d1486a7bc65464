"""W8: an honest client's latency while one address and one account send issue 28's costly
documents, beside the same client alone, in one run.

    python -m bench.attack [--seconds 10]      prints the figures as JSON

The gateway runs with its default budgets (the point is what they bound). The honest client reads
a page of 20 sessions (each with its last message) as twelve accounts, four times a second each
(within the default read budget); its p99 is measured alone, then while an attacker process
sends, as fast as each is answered:
- anonymously over HTTP, a document of 32,000 newlines and 130 unknown fields (32 KB, 132 tokens);
- the same document with a valid token;
- over a WebSocket with permessage-deflate, a `subscribe` of 1 MB of newlines (~2 KB on the wire).
Every attack request's time to its answer (or to the socket's close) is reported too.

The gateway runs on CPUs of its own; the honest client and the attacker share the others, the
attacker at the lowest priority (nice 19): an attacker is another machine, and what is measured is
the gateway's loop, not the honest client waiting for its own CPU while the attacker compresses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
import orjson
import websockets

from bench import data
from bench.servers import pin, split_cpus, start_gateway
from gateway.auth import issue_token

PAGE = "{ sessions(first: 20) { edges { node { key updateTime lastMessage { text } } } } }"
NEWLINES = "{" + "\n" * 32_000 + " ".join(f"f{n}" for n in range(130)) + "}"
HONEST = tuple(f"honest{n}" for n in range(12))  # 480 timed requests in 10 s: a p99 of 5
HONEST_RATE = 4  # requests a second, per account


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--attacker", nargs=3, metavar=("URL", "SECRET", "SECONDS"))
    args = parser.parse_args()
    if args.attacker:
        url, secret, seconds = args.attacker
        print(json.dumps(asyncio.run(attack(url, secret, float(seconds)))))
        return
    print(json.dumps(run(args.seconds)))  # one line: `python -m bench` reads the last


def run(seconds: int) -> dict[str, object]:
    from bench.__main__ import SETTINGS, gateway_env

    # The gateway on CPUs of its own, its clients (honest and attacker) on the others: what is
    # measured is the gateway's loop, not the attacker's own compressing and encoding.
    server_cpus, client_cpus = split_cpus()
    os.sched_setaffinity(0, client_cpus)

    env = gateway_env("")
    for budget in ("GATEWAY_RATE_LIMIT_READS_PER_MINUTE", "GATEWAY_RATE_LIMIT_WRITES_PER_MINUTE"):
        del env[budget]  # the defaults: what the attack meets
    tokens = [issue_token(SETTINGS, account, ttl_seconds=3600) for account in HONEST]
    with tempfile.TemporaryDirectory() as tmp:
        database = f"{tmp}/attack.db"
        asyncio.run(data.fill_sqlite(database, 100, owners=HONEST))  # pages of 20, as W1's
        with start_gateway({**env, "GATEWAY_DATABASE_URL": database}) as gateway:
            pin(gateway.process.pid, server_cpus)
            url = gateway.url("/graphql")
            alone = asyncio.run(honest(url, tokens, seconds))
            # The attack's own answers, timed with the attacker at the clients' priority; then
            # the honest client beside it, the attacker at the lowest (see above).
            attacks = _attacker(url, seconds, nice=0).communicate(timeout=seconds + 120)[0]
            attacker = _attacker(url, seconds + 2, nice=19)
            time.sleep(1)  # the attack is under way
            attacked = asyncio.run(honest(url, tokens, seconds))
            beside = attacker.communicate(timeout=seconds + 120)[0]
    alone_p99, attacked_p99 = alone["p99_ms"], attacked["p99_ms"]
    return {
        "cpus": {"gateway": sorted(server_cpus), "clients": sorted(client_cpus)},
        "honest_alone": alone,
        "honest_attacked": attacked,
        "p99_ratio": round(attacked_p99 / alone_p99, 2),
        "attacks": json.loads(attacks),
        "attacks_beside_honest": json.loads(beside),
    }


def _attacker(url: str, seconds: float, *, nice: int) -> subprocess.Popen[bytes]:
    from bench.__main__ import JWT_SECRET

    command = [sys.executable, "-m", "bench.attack", "--attacker", url, JWT_SECRET, str(seconds)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, preexec_fn=lambda: os.nice(nice))


async def honest(url: str, tokens: list[str], seconds: float) -> dict[str, float]:
    """Each account reads a page ``HONEST_RATE`` times a second, on a schedule (a late answer
    does not delay the next request)."""
    latencies: list[float] = []
    failures = 0

    async def account(client: httpx.AsyncClient, token: str, offset: float) -> None:
        nonlocal failures
        headers = {"Authorization": f"Bearer {token}"}
        start = time.perf_counter() + offset
        pending = []
        for n in range(int(seconds * HONEST_RATE)):
            await asyncio.sleep(max(0.0, start + n / HONEST_RATE - time.perf_counter()))
            pending.append(asyncio.create_task(one(client, headers)))
        for outcome in await asyncio.gather(*pending):
            if outcome is None:
                failures += 1
            else:
                latencies.append(outcome)

    async def one(client: httpx.AsyncClient, headers: dict[str, str]) -> float | None:
        started = time.perf_counter()
        response = await client.post(url, json={"query": PAGE}, headers=headers)
        if response.status_code != 200 or "errors" in response.json():
            return None
        return (time.perf_counter() - started) * 1000

    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        pace = len(tokens) * HONEST_RATE
        await asyncio.gather(*(account(client, token, n / pace) for n, token in enumerate(tokens)))
    return {"requests": len(latencies), "failed": failures, **percentiles(latencies)}


async def attack(url: str, secret: str, seconds: float) -> dict[str, object]:
    from pydantic import SecretStr

    from gateway.settings import Settings

    token = issue_token(Settings(jwt_secret=SecretStr(secret)), "mallory", ttl_seconds=3600)
    deadline = time.perf_counter() + seconds
    body = orjson.dumps({"query": NEWLINES})

    async def http_attack(authorization: str | None) -> dict[str, object]:
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = f"Bearer {authorization}"
        times, statuses = [], dict[int, int]()
        async with httpx.AsyncClient(timeout=60) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        return {"statuses": statuses, **percentiles(times)}

    async def socket_attack() -> dict[str, object]:
        ws_url = url.replace("http://", "ws://")
        message = orjson.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": "{" + "\n" * 1_000_000 + "}"}}
        ).decode()
        times, closes = [], dict[str, int]()
        while time.perf_counter() < deadline:
            async with websockets.connect(
                ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                compression="deflate", max_size=None,
            ) as socket:  # fmt: skip
                init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                await socket.send(orjson.dumps(init).decode())
                await socket.recv()  # connection_ack
                started = time.perf_counter()
                await socket.send(message)
                try:
                    while True:
                        await socket.recv()
                except websockets.ConnectionClosed as e:
                    code = str(e.rcvd.code if e.rcvd else None)
                times.append((time.perf_counter() - started) * 1000)
                closes[code] = closes.get(code, 0) + 1
        return {"closes": closes, **percentiles(times)}

    anonymous, signed_in, socket = await asyncio.gather(
        http_attack(None), http_attack(token), socket_attack()
    )
    return {"anonymous_http": anonymous, "signed_in_http": signed_in, "websocket": socket}


def percentiles(times: list[float]) -> dict[str, float]:
    if not times:
        return {"count": 0}
    ordered = sorted(times)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max_ms": round(ordered[-1], 1),
    }


if __name__ == "__main__":
    main()
