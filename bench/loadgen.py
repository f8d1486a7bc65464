"""Load that wrk cannot make: signed webhooks with unique bodies, and WebSocket fan-out latency.
Runs in its own process, bounded in time.

    python -m bench.loadgen webhooks URL SECRET SECONDS CONCURRENCY (p2p|team|noop)
    python -m bench.loadgen fanout WS_URL HTTP_URL JWT_SECRET APP_SECRET (team|owner) TARGET
                                   SUBSCRIBERS MESSAGES [SERVER_PID]

fanout "team": TARGET is a team whose members TARGET-m0, TARGET-m1, ... each subscribe once, and
each message is a team message. fanout "owner": one account, TARGET, subscribes SUBSCRIBERS times
(tabs, devices) and each message is a P2P message to it. With SERVER_PID, the server's CPU time
while the messages fan out is reported too (per message: robust to a busy machine), beside the
load generator's own. A first message warms up (it creates the sessions the measured ones
update): its frames are checked and reported apart (warm_up_*), not counted in the percentiles.
The sockets (bench/wsclient.py) only stamp and keep each frame while the messages fan out;
every frame is parsed and checked afterwards, and a wrong one fails the run.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import httpx
import jwt
import orjson
import uvloop

from bench.wsclient import Subscriber, connect
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


SUBSCRIPTION = (
    "subscription { sessionEvents { ... on SessionUpserted { session "
    "{ lastMessage { serverId } } } } }"
)


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
    if mode == "team":
        accounts = [f"{target}-m{n}" for n in range(subscribers)]
    else:
        accounts = [target] * subscribers
    # While messages fan out, a socket only counts its frames: reached[n] is how many sockets
    # hold n + 1 (or more) measured frames; everything is parsed and checked afterwards.
    reached = [0] * (messages + 2)
    complete: list[asyncio.Event] = [asyncio.Event() for _ in range(messages + 2)]
    sockets: list[Subscriber] = []

    def counter(socket: list[int]) -> Callable[[int], None]:
        def on_frame(count: int) -> None:
            n = count - socket[0] - 1
            if 0 <= n < len(reached):
                reached[n] += 1
                if reached[n] == subscribers:
                    complete[n].set()

        return on_frame

    async def subscribe(account: str) -> tuple[Subscriber, list[int]]:
        token = jwt.encode({"sub": account, "exp": int(time.time()) + 3600}, jwt_secret)
        offset = [1 << 30]  # no frame counts before the measurement
        ws = await connect(ws_url, "graphql-transport-ws", counter(offset))
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        ws.send_text(orjson.dumps(init))
        ack = orjson.loads(await ws.next_text())
        if ack.get("type") != "connection_ack":
            raise SystemExit(f"connection refused: {ack}")
        ws.send_text(
            orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        )
        return ws, offset

    offsets: list[list[int]] = []
    for first in range(0, len(accounts), 50):
        for ws, offset in await asyncio.gather(*map(subscribe, accounts[first : first + 50])):
            sockets.append(ws)
            offsets.append(offset)
    await asyncio.sleep(1)  # subscriptions settle before the first message
    if server_pid is not None:  # and the server has started them all (on a busy machine, later)
        await quiet(server_pid)
    for ws, offset in zip(sockets, offsets, strict=True):
        offset[0] = ws.mark()
    # No collection of this process's own while it stamps frames: with 1,000 sockets' objects,
    # a full one took 10-25 ms, and a frame it held up looked that much later than it came
    # (the first measured messages were 70-80 ms where the rest were 45). What it allocates
    # until the end is bounded: the frames it keeps and a request per message.
    gc.collect()
    gc.freeze()
    gc.disable()
    sent: list[float] = []
    ids: list[str] = []
    cpu_before, own_before = None, 0.0
    async with httpx.AsyncClient(base_url=http_url, timeout=30) as http:
        # Message 0 warms up: it creates the sessions the others update, and is the first
        # webhook the server and this client handle. It is checked, reported apart, not timed.
        for n in range(messages + 1):
            if n == 1:
                cpu_before = None if server_pid is None else cpu_seconds(server_pid)
                own_before = time.process_time()
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
            ids.append(msgid)
            sent.append(time.perf_counter())
            response = await http.post(
                "/nim/cc", content=body, headers=sign(app_secret, body, int(time.time() * 1000))
            )
            if response.status_code != 200:
                raise SystemExit(f"webhook answered {response.status_code}: {response.text}")
            with suppress(TimeoutError):  # a lost event shows in the count, not as a hang
                await asyncio.wait_for(complete[n].wait(), 10)
    own_cpu = time.process_time() - own_before
    gc.enable()
    cpu = None if server_pid is None or cpu_before is None else cpu_seconds(server_pid) - cpu_before
    every = _latencies(sockets, offsets, ids, sent)
    warm_up = sorted(every.pop(0, []))
    latencies = sorted(ms for each in every.values() for ms in each)
    lasts = [max(each) for each in every.values() if each]  # each message's last frame
    for ws in sockets:
        ws.close()
    expected = subscribers * messages

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else -1

    result: dict[str, object] = {
        "events": len(latencies),
        "expected": expected,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "warm_up_events": len(warm_up),
        "warm_up_max_ms": warm_up[-1] if warm_up else -1,
        # Per message, when its first and its last frame arrived (medians over the messages):
        # the first is the webhook's own work (verify, store, commit), the rest the fan-out's.
        "first_frame_ms": _median([min(each) for each in every.values() if each]),
        "last_frame_ms": _median(lasts),
        "last_frame_ms_by_message": [round(ms, 1) for ms in lasts],
        "loadgen_cpu_ms_per_message": own_cpu * 1000 / messages,
    }
    if cpu is not None:
        result["server_cpu_ms_per_message"] = cpu * 1000 / messages
    print(orjson.dumps(result).decode())


def _latencies(
    sockets: list[Subscriber], offsets: list[list[int]], ids: list[str], sent: list[float]
) -> dict[int, list[float]]:
    """Each measured frame's latency (ms) from its message's webhook, once every frame is
    checked: a ``next`` of the subscription, showing the message it was sent for, in order. A
    frame that is anything else fails the run; a missing one shows in the count."""
    out: dict[int, list[float]] = {}
    for ws, (offset,) in zip(sockets, offsets, strict=True):
        texts = ws.texts()[offset:]
        if len(texts) > len(ids):
            raise SystemExit(f"{len(texts)} frames for {len(ids)} messages: {texts[len(ids)]!r}")
        for n, (raw, stamp) in enumerate(zip(texts, ws.stamps[offset:], strict=True)):
            frame = orjson.loads(raw)
            if frame.get("type") != "next" or frame.get("id") != "1":
                raise SystemExit(f"not a next frame of the subscription: {raw!r}")
            last = frame["payload"]["data"]["sessionEvents"]["session"]["lastMessage"]
            if last["serverId"] != ids[n]:
                raise SystemExit(f"frame {n} shows {last['serverId']}, not {ids[n]}")
            out.setdefault(n, []).append((stamp - sent[n]) * 1000)
    return out


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else -1


if __name__ == "__main__":
    what, *args = sys.argv[1:]
    if what == "webhooks":
        asyncio.run(webhooks(args[0], args[1], float(args[2]), int(args[3]), args[4]))
    else:
        pid = int(args[8]) if len(args) > 8 else None
        ws_url, http_url, jwt_secret, app_secret, mode, target = args[:6]
        # uvloop, as the server runs: the stock loop costs a fan-out's 1,000 wake-ups more.
        uvloop.run(fanout(ws_url, http_url, jwt_secret, app_secret, mode, target,
                          int(args[6]), int(args[7]), pid))  # fmt: skip
