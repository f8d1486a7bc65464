"""W6: what an idle subscription costs the gateway in memory, beside the same number of idle
sockets on a bare uvicorn + Starlette WebSocket endpoint (bench/barews.py), in the same run,
from the same client (bench/wsclient.py, which offers no extension: neither side compresses).

Each server first takes ``WARM`` sockets (one-time costs: imports, caches, a compiled document),
then its RSS is read from /proc, ``sockets`` more are opened (connection_init, the ack, and on
the gateway a ``sessionEvents`` subscription, each socket its own account), the server is left
to settle, and its RSS is read again: the difference over ``sockets`` is one socket's cost."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import jwt
import orjson

from bench.loadgen import SUBSCRIPTION, quiet
from bench.servers import Server, start_bare_websocket, start_gateway
from bench.wsclient import Subscriber, connect

WARM = 50
BATCH = 50


def w6(env: dict[str, str], jwt_secret: str, sockets: int) -> dict[str, object]:
    out: dict[str, object] = {"sockets": sockets, "warm": WARM}
    with start_gateway(env) as gateway, start_bare_websocket() as bare:
        for name, server, subscribes in (("bare", bare, False), ("gateway", gateway, True)):
            out[name] = asyncio.run(_hold(server, sockets, subscribes, jwt_secret))
    return out


async def _hold(
    server: Server, sockets: int, subscribes: bool, jwt_secret: str
) -> dict[str, float]:
    held: list[Subscriber] = []
    try:
        await _open(server, held, WARM, subscribes, jwt_secret)
        before = await _settled_rss(server)
        await _open(server, held, sockets, subscribes, jwt_secret)
        after = await _settled_rss(server)
        open_ = sum(not ws.closed.done() for ws in held)
        if open_ != len(held):
            raise SystemExit(f"{len(held) - open_} of {len(held)} sockets were closed")
    finally:
        for ws in held:
            ws.close()
    return {
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_socket": (after - before) / sockets,
    }


async def _open(
    server: Server, held: list[Subscriber], count: int, subscribes: bool, jwt_secret: str
) -> None:
    async def one(n: int) -> Subscriber:
        account = f"idle{n:05}"
        token = jwt.encode({"sub": account, "exp": int(time.time()) + 3600}, jwt_secret)
        ws = await connect(server.ws_url("/graphql"), "graphql-transport-ws", lambda _: None)
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        ws.send_text(orjson.dumps(init))
        ack = orjson.loads(await ws.next_text())
        if ack.get("type") != "connection_ack":
            raise SystemExit(f"connection refused: {ack}")
        if subscribes:
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
            ws.send_text(orjson.dumps(subscribe))
        return ws

    first = len(held)
    for start in range(first, first + count, BATCH):
        stop = min(start + BATCH, first + count)
        held.extend(await asyncio.gather(*map(one, range(start, stop))))


async def _settled_rss(server: Server) -> int:
    # Past the gateway's settling (gateway/heap.py: a second after subscriptions start, it
    # collects what the last of them left), for both servers alike.
    await asyncio.sleep(2)
    await quiet(server.process.pid)
    return rss_kib(server.process.pid)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")
