"""Load that wrk cannot make: signed webhooks with unique bodies, and WebSocket fan-out latency.
Runs in its own process, bounded in time.

    python -m bench.loadgen webhooks URL SECRET SECONDS CONCURRENCY (p2p|team|noop)
    python -m bench.loadgen fanout WS_URL HTTP_URL JWT_SECRET APP_SECRET TEAM SUBSCRIBERS MESSAGES
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from contextlib import suppress

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


async def fanout(
    ws_url: str,
    http_url: str,
    jwt_secret: str,
    app_secret: str,
    team: str,
    subscribers: int,
    messages: int,
) -> None:
    import websockets
    from websockets.asyncio.client import ClientConnection

    members = [f"{team}-m{n}" for n in range(subscribers)]
    arrivals: dict[str, list[float]] = {}
    complete: dict[str, asyncio.Event] = {}
    sockets = []
    for member in members:
        token = jwt.encode({"sub": member, "exp": int(time.time()) + 3600}, jwt_secret)
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
        await ws.recv()
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
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=http_url, timeout=30) as http:
        for n in range(messages):
            msgid = f"fan-{uuid.uuid4().hex[:8]}-{n}"
            body = orjson.dumps(
                {
                    "eventType": 1,
                    "convType": "TEAM",
                    "to": team,
                    "fromAccount": "announcer",
                    "msgType": "TEXT",
                    "body": "hi",
                    "msgidServer": msgid,
                    "msgTimestamp": int(time.time() * 1000),
                }
            )
            sent[msgid] = time.perf_counter()
            await http.post(
                "/nim/cc", content=body, headers=sign(app_secret, body, int(time.time() * 1000))
            )
            with suppress(TimeoutError):  # a lost event shows in the count, not as a hang
                await asyncio.wait_for(complete.setdefault(msgid, asyncio.Event()).wait(), 10)
    latencies = sorted((t - sent[m]) * 1000 for m, ts in arrivals.items() if m in sent for t in ts)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        await ws.close()
    expected = subscribers * messages

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else -1

    print(
        orjson.dumps(
            {
                "events": len(latencies),
                "expected": expected,
                "p50_ms": pct(0.5),
                "p99_ms": pct(0.99),
            }
        ).decode()
    )


if __name__ == "__main__":
    what, *args = sys.argv[1:]
    if what == "webhooks":
        asyncio.run(webhooks(args[0], args[1], float(args[2]), int(args[3]), args[4]))
    else:
        asyncio.run(fanout(args[0], args[1], args[2], args[3], args[4], int(args[5]), int(args[6])))
