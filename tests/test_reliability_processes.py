"""Reliability of a real gateway process: graceful shutdown, and durability across SIGKILL."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.domain.checksum import sign
from tests.helpers import APP_SECRET, SECRET, bearer_token
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
    socket = await GraphQLSocket.connect(f"ws://127.0.0.1:{port}/graphql", bearer_token(alice))
    await socket.subscribe("subscription { sessionEvents { __typename } }")
    body = cc(f"{alice}-1", "bob", alice, int(time.time() * 1000))
    half = len(body) // 2
    headers = {**sign(APP_SECRET, body, int(time.time() * 1000)),
               "Host": f"127.0.0.1:{port}", "Content-Type": "application/json",
               "Content-Length": str(len(body))}  # fmt: skip
    head = "POST /nim/cc HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode() + b"\r\n" + body[:half])
    await writer.drain()
    await read_by_server(port, writer.get_extra_info("sockname")[1])  # the request is in flight

    process.proc.send_signal(signal.SIGTERM)
    closed = await socket.drain_until_closed()
    writer.write(body[half:])
    await writer.drain()
    status, answer = parse_response(await reader.read())  # the server closes when it is done
    writer.close()
    assert closed.code == 1001
    assert status == 200
    assert orjson.loads(answer) == {"outcome": "applied"}
    process.wait_for("Application shutdown complete")
    process.wait_for("closed the store")  # before the process ends, not cut off by the signal
    assert await asyncio.to_thread(process.proc.wait, 20) in (0, -signal.SIGTERM)


def test_sigterm_closes_the_sqlite_file_cleanly(tmp_path: Path) -> None:
    # SQLite folds the write-ahead log into the file and removes it when the last connection
    # closes: a log left behind means the process ended with the file still open.
    database = tmp_path / "gateway.db"
    port = free_tcp_port()
    with gateway("serve", "--port", str(port), env=env_for(str(database))) as process:
        process.wait_for("Uvicorn running")
        body = cc("m1", "bob", "alice", int(time.time() * 1000))
        answer = httpx.post(
            f"http://127.0.0.1:{port}/nim/cc",
            content=body,
            headers=sign(APP_SECRET, body, int(time.time() * 1000)),
        )
        assert answer.status_code == 200
        assert Path(f"{database}-wal").exists()
        process.proc.send_signal(signal.SIGTERM)
        assert process.proc.wait(20) in (0, -signal.SIGTERM)
    assert not Path(f"{database}-wal").exists()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (1,)


async def read_by_server(server_port: int, client_port: int) -> None:
    """Waits until the server has taken every byte the client sent on one connection: the
    kernel holds none unacknowledged on the client's side, and none unread on the server's."""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        queues = tcp_queues()
        client = queues.get((client_port, server_port))
        server = queues.get((server_port, client_port))
        if client is not None and server is not None and client[0] == 0 and server[1] == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server did not read the request")


def tcp_queues() -> dict[tuple[int, int], tuple[int, int]]:
    """(local port, remote port) -> (send queue, receive queue) of each IPv4 TCP socket."""
    queues = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, _, sizes = line.split()[1:5]
        send, receive = (int(size, 16) for size in sizes.split(":"))
        queues[(int(local.split(":")[1], 16), int(remote.split(":")[1], 16))] = (send, receive)
    return queues


def parse_response(raw: bytes) -> tuple[int, bytes]:
    """The status and body of one HTTP/1.1 response with a Content-Length."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:])
    length = {k.strip().lower(): v.strip() for k, v in fields.items()}[b"content-length"]
    assert len(body) == int(length), raw
    return status, body


async def test_every_acknowledged_webhook_survives_sigkill(database: str) -> None:
    acknowledged: list[tuple[bytes, str]] = []  # (body, recipient) that got a 200
    sent: list[tuple[bytes, str]] = []
    run = uuid.uuid4().hex[:6]
    rng = random.Random(run)
    counter = 0
    for _ in range(5):  # kill the server at a random moment, five times
        port = free_tcp_port()
        process = GatewayProcess("serve", "--port", str(port), env=env_for(database))
        process.wait_for("Uvicorn running")
        kill_after = len(acknowledged) + rng.randrange(1, 40)  # acknowledged webhooks
        enough = asyncio.Event()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def fire(kill_after: int, enough: asyncio.Event) -> None:
                nonlocal counter
                while True:  # until the server dies under us
                    counter += 1
                    recipient = f"k{run}-{counter}"
                    body = cc(f"{recipient}-m", "bob", recipient, int(time.time() * 1000))
                    sent.append((body, recipient))
                    headers = sign(APP_SECRET, body, int(time.time() * 1000))
                    try:
                        response = await http.post("/nim/cc", content=body, headers=headers)
                    except httpx.HTTPError:
                        return  # no answer, no promise
                    assert response.status_code == 200, response.text
                    acknowledged.append((body, recipient))
                    if len(acknowledged) >= kill_after:
                        enough.set()

            firing = [asyncio.create_task(fire(kill_after, enough)) for _ in range(4)]
            waiting = asyncio.create_task(enough.wait())
            await asyncio.wait([waiting, *firing], return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            process.proc.kill()  # SIGKILL, with webhooks in flight: no shutdown, no flush
            await asyncio.gather(*firing)
        process.proc.wait()

    port = free_tcp_port()
    with gateway("serve", "--port", str(port), env=env_for(database)) as survivor:
        survivor.wait_for("Uvicorn running")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            query = '{ session(id: "p2p|bob") { lastMessage { serverId } } }'
            for _, recipient in acknowledged:
                headers = {"Authorization": f"Bearer {bearer_token(recipient)}"}
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
