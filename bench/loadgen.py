"""Load that wrk cannot make: signed webhooks with unique bodies, and WebSocket fan-out latency.
Runs in its own process, bounded in time.

    python -m bench.loadgen webhooks URL SECRET SECONDS CONCURRENCY (p2p|team|noop)
    python -m bench.loadgen fanout WS_URL HTTP_URL JWT_SECRET APP_SECRET (team|owner) TARGET
                                   SUBSCRIBERS MESSAGES [SERVER_PID]

fanout "team": TARGET is a team whose members TARGET-m0, TARGET-m1, ... each subscribe once, and
each message is a team message. fanout "owner": one account, TARGET, subscribes SUBSCRIBERS times
(tabs, devices) and each message is a P2P message to it. With SERVER_PID, the server's CPU time
while the messages fan out is reported too (per message: robust to a busy machine).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from contextlib import suppress
from pathlib import Path

import httpx
import jwt
import orjson

from gateway.domain.checksum import sign


async def webhooks(url: str, secret: str, seconds: float, concurrency: int, kind: str) -> None:
    run = uuid.uuid4().hex[:8]
    done = 0
    stop = time.monotonic() + seconds
    async with httpx.AsyncClient(
        base_url=url, timeout=30, limits=httpx.Limits(max_connections=concurrency)
    ) as http:

        async def worker(w: int) -> None:
            nonlocal done
            n = 0
            while time.monotonic() < stop:
                n += 1
                event: dict[str, object]
                if kind == "noop":
                    event = {"eventType": 2, "accid": f"u{w}", "clientType": "WEB"}
                else:
                    event = {
                        "eventType": 1,
                        "msgType": "TEXT",
                        "body": "hello",
                        "fromAccount": f"s{w}",
                        "msgidServer": f"{run}-{w}-{n}",
                        "msgTimestamp": int(time.time() * 1000),
                    }
                    event.update(
                        {"convType": "TEAM", "to": "bench-team"}
                        if kind == "team"
                        else {"convType": "PERSON", "to": f"r{n % 500}"}
                    )
                body = orjson.dumps(event)
                response = await http.post(
                    "/nim/cc", content=body, headers=sign(secret, body, int(time.time() * 1000))
                )
                if response.status_code != 200:
                    raise SystemExit(f"webhook answered {response.status_code}: {response.text}")
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.monotonic() - started
    print(orjson.dumps({"requests": done, "seconds": elapsed, "rate": done / elapsed}).decode())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def quiet(pid: int, *, within: float = 60) -> None:
    """Returns once process ``pid`` uses under 5% of a core over 0.2 s (or after ``within``)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.2)
        if cpu_seconds(pid) - before < 0.01:
            return


async def fanout(
    ws_url: str,
    http_url: str,
    jwt_secret: str,
    app_secret: str,
    mode: str,
    target: str,
    subscribers: int,
    messages: int,
    server_pid: int | None = None,
) -> None:
    import websockets
    from websockets.asyncio.client import ClientConnection

    if mode == "team":
        accounts = [f"{target}-m{n}" for n in range(subscribers)]
    else:
        accounts = [target] * subscribers
    arrivals: dict[str, list[float]] = {}
    complete: dict[str, asyncio.Event] = {}
    sockets = []
    for account in accounts:
        token = jwt.encode({"sub": account, "exp": int(time.time()) + 3600}, jwt_secret)
        ws = await websockets.connect(
            ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            compression=None,
            max_queue=None,
        )
        await ws.send(
            orjson.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            ).decode()
        )
        ack = orjson.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise SystemExit(f"connection refused: {ack}")
        await ws.send(
            orjson.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": "subscription { sessionEvents { ... on SessionUpserted { session "
                        "{ lastMessage { serverId } } } } }"
                    },
                }
            ).decode()
        )
        sockets.append(ws)

    async def listen(ws: ClientConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message.get("type") == "next":
                last = message["payload"]["data"]["sessionEvents"]["session"]["lastMessage"]
                seen = arrivals.setdefault(last["serverId"], [])
                seen.append(time.perf_counter())
                if len(seen) == subscribers:
                    complete.setdefault(last["serverId"], asyncio.Event()).set()

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    await asyncio.sleep(1)  # subscriptions settle before the first message
    if server_pid is not None:  # and the server has started them all (on a busy machine, later)
        await quiet(server_pid)
    sent: dict[str, float] = {}
    cpu_before = None if server_pid is None else cpu_seconds(server_pid)
    async with httpx.AsyncClient(base_url=http_url, timeout=30) as http:
        for n in range(messages):
            msgid = f"fan-{uuid.uuid4().hex[:8]}-{n}"
            event: dict[str, object] = {
                "eventType": 1,
                "fromAccount": "announcer",
                "msgType": "TEXT",
                "body": "hi",
                "msgidServer": msgid,
                "msgTimestamp": int(time.time() * 1000),
            }
            event.update(
                {"convType": "TEAM", "to": target}
                if mode == "team"
                else {"convType": "PERSON", "to": target}
            )
            body = orjson.dumps(event)
            sent[msgid] = time.perf_counter()
            await http.post(
                "/nim/cc", content=body, headers=sign(app_secret, body, int(time.time() * 1000))
            )
            with suppress(TimeoutError):  # a lost event shows in the count, not as a hang
                await asyncio.wait_for(complete.setdefault(msgid, asyncio.Event()).wait(), 10)
    cpu = None if server_pid is None or cpu_before is None else cpu_seconds(server_pid) - cpu_before
    latencies = sorted((t - sent[m]) * 1000 for m, ts in arrivals.items() if m in sent for t in ts)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        await ws.close()
    expected = subscribers * messages

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else -1

    result: dict[str, object] = {
        "events": len(latencies),
        "expected": expected,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }
    if cpu is not None:
        result["server_cpu_ms_per_message"] = cpu * 1000 / messages
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    what, *args = sys.argv[1:]
    if what == "webhooks":
        asyncio.run(webhooks(args[0], args[1], float(args[2]), int(args[3]), args[4]))
    else:
        pid = int(args[8]) if len(args) > 8 else None
        ws_url, http_url, jwt_secret, app_secret, mode, target = args[:6]
        asyncio.run(fanout(ws_url, http_url, jwt_secret, app_secret, mode, target,
                           int(args[6]), int(args[7]), pid))  # fmt: skip
