"""Reliability of a real gateway process: graceful shutdown, and durability across SIGKILL."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import orjson
import pytest

from gateway.domain.checksum import sign
from tests.helpers import APP_SECRET, SECRET
from tests.process import GatewayProcess, free_tcp_port, gateway
from tests.ws import GraphQLSocket

pytestmark = pytest.mark.reliability


@pytest.fixture
def database(database_url: str) -> str:
    """The suite's fresh database of each backend (conftest), here for a real process."""
    return database_url


def env_for(database: str) -> dict[str, str]:
    return {"GATEWAY_DATABASE_URL": database, "GATEWAY_JWT_SECRET": SECRET,
            "GATEWAY_NIM_APP_SECRET": APP_SECRET, "GATEWAY_RATE_LIMIT_READS_PER_MINUTE": "0",
            "GATEWAY_RATE_LIMIT_WRITES_PER_MINUTE": "0"}  # fmt: skip


def token(account: str) -> str:
    return jwt.encode({"sub": account, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


def cc(msgid: str, sender: str, to: str, sent: int) -> bytes:
    return orjson.dumps({"eventType": 1, "convType": "PERSON", "fromAccount": sender, "to": to,
                         "msgType": "TEXT", "body": "hi", "msgidServer": msgid,
                         "msgTimestamp": sent})  # fmt: skip


@pytest.fixture
def started(database: str) -> Iterator[tuple[GatewayProcess, int]]:
    port = free_tcp_port()
    with gateway("serve", "--port", str(port), env=env_for(database)) as process:
        process.wait_for("Uvicorn running")
        yield process, port


async def test_sigterm_finishes_in_flight_work_and_says_going_away(
    started: tuple[GatewayProcess, int],
) -> None:
    process, port = started
    alice = f"s-{uuid.uuid4().hex[:8]}"
    socket = await GraphQLSocket.connect(f"ws://127.0.0.1:{port}/graphql", token(alice))
    await socket.subscribe("subscription { sessionEvents { __typename } }")
    body = cc(f"{alice}-1", "bob", alice, int(time.time() * 1000))
    half = len(body) // 2
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:half]
        await release.wait()  # the request is in flight when SIGTERM arrives
        yield body[half:]

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
        headers = {**sign(APP_SECRET, body, int(time.time() * 1000)),
                   "Content-Length": str(len(body))}  # fmt: skip
        in_flight = asyncio.create_task(http.post("/nim/cc", content=slow_body(), headers=headers))
        await asyncio.sleep(0.3)  # let the first half reach the server
        process.proc.send_signal(signal.SIGTERM)
        closed = await socket.drain_until_closed()
        release.set()
        response = await in_flight
    assert closed.code == 1001
    assert response.status_code == 200
    assert response.json() == {"outcome": "applied"}
    process.wait_for("Application shutdown complete")  # the store was closed cleanly
    assert await asyncio.to_thread(process.proc.wait, 20) in (0, -signal.SIGTERM)


async def test_every_acknowledged_webhook_survives_sigkill(database: str) -> None:
    acknowledged: list[tuple[bytes, str]] = []  # (body, recipient) that got a 200
    sent: list[tuple[bytes, str]] = []
    run = uuid.uuid4().hex[:6]
    rng = random.Random(run)
    counter = 0
    deadline = time.monotonic() + 60
    for _ in range(5):  # kill the server at a random moment, five times
        port = free_tcp_port()
        process = GatewayProcess("serve", "--port", str(port), env=env_for(database))
        process.wait_for("Uvicorn running")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def fire() -> None:
                nonlocal counter
                while True:
                    counter += 1
                    recipient = f"k{run}-{counter}"
                    body = cc(f"{recipient}-m", "bob", recipient, int(time.time() * 1000))
                    sent.append((body, recipient))
                    headers = sign(APP_SECRET, body, int(time.time() * 1000))
                    try:
                        response = await http.post("/nim/cc", content=body, headers=headers)
                    except httpx.HTTPError:
                        return  # the server died under us: no answer, no promise
                    if response.status_code == 200:
                        acknowledged.append((body, recipient))

            firing = [asyncio.create_task(fire()) for _ in range(4)]
            await asyncio.sleep(rng.uniform(0.05, 0.4))
            process.proc.kill()  # SIGKILL: no shutdown, no flush
            await asyncio.gather(*firing)
        process.proc.wait()
        assert time.monotonic() < deadline

    port = free_tcp_port()
    with gateway("serve", "--port", str(port), env=env_for(database)) as survivor:
        survivor.wait_for("Uvicorn running")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            query = '{ session(id: "p2p|bob") { lastMessage { serverId } } }'
            for _, recipient in acknowledged:
                headers = {"Authorization": f"Bearer {token(recipient)}"}
                answer = await http.post("/graphql", json={"query": query}, headers=headers)
                last = answer.json()["data"]["session"]
                assert last == {"lastMessage": {"serverId": f"{recipient}-m"}}, recipient
            # NIM resends what it is unsure of: acknowledged events change nothing again, and
            # whatever was cut off applies now.
            replayed = {}
            for body, recipient in sent:
                headers = sign(APP_SECRET, body, int(time.time() * 1000))
                response = await http.post("/nim/cc", content=body, headers=headers)
                assert response.status_code == 200
                replayed[recipient] = response.json()["outcome"]
    assert acknowledged
    assert {replayed[recipient] for _, recipient in acknowledged} == {"duplicate"}
    if not database.startswith("postgresql"):
        with sqlite3.connect(database) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
