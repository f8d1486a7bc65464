"""What one connection may cost the real `gateway serve` when clients reach it directly: request
heads are bounded in size, heads and bodies in time (GATEWAY_HTTP_*)."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, sync_postgres_schema
from tests.helpers import APP_SECRET, SECRET
from tests.process import GatewayProcess, free_tcp_port, gateway
from tests.test_deployment import run_nginx
from tests.tools import require

MAX_HEAD = 8192
# Generous: the server is told to give up after 1 s; a server that never does fails here.
EOF_WITHIN_S = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, int]]:
    port = free_tcp_port()
    env = {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_NIM_APP_SECRET": APP_SECRET,
           "GATEWAY_LOG_LEVEL": "warning",
           "GATEWAY_HTTP_MAX_HEADER_BYTES": str(MAX_HEAD),
           "GATEWAY_HTTP_HEADER_TIMEOUT_S": "1", "GATEWAY_HTTP_BODY_TIMEOUT_S": "1"}  # fmt: skip
    db = tmp_path_factory.mktemp("limits") / "gateway.db"
    with gateway("serve", "--db", str(db), "--port", str(port), env=env) as process:
        wait_until_listening(port)
        yield process, port


def wait_until_listening(port: int) -> None:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            threading.Event().wait(0.1)
    raise AssertionError(f"nothing listens on {port}")


def connect(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port))
    connection.settimeout(EOF_WITHIN_S)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes; a server that keeps the connection open
    past EOF_WITHIN_S fails the test (socket.timeout)."""
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response else 0


def head_of(size: int, method: str = "GET", path: str = "/healthz", extra: str = "") -> bytes:
    """A request head of exactly ``size`` bytes, the blank line included."""
    start = f"{method} {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n{extra}X-Pad: "
    padding = size - len(start) - len("\r\n\r\n")
    assert padding >= 0
    return (start + "p" * padding + "\r\n\r\n").encode()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("writes", ["one-write", "split-in-the-blank-line"])
def test_a_head_of_exactly_the_limit_is_served_and_one_byte_more_is_431(
    server: tuple[GatewayProcess, int], writes: str
) -> None:
    _, port = server
    for size, expected in ((MAX_HEAD, 200), (MAX_HEAD + 1, 431)):
        head = head_of(size)
        with connect(port) as connection:
            if writes == "one-write":
                connection.sendall(head)
            else:
                connection.sendall(head[:-3])
                connection.sendall(head[-3:])
            assert status(read_until_closed(connection)) == expected, size


def test_a_body_sent_with_its_head_does_not_count_toward_the_head(
    server: tuple[GatewayProcess, int],
) -> None:
    _, port = server
    body = b'{"query": "{ __typename }", "padding": "' + b"x" * (4 * MAX_HEAD) + b'"}'
    extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    with connect(port) as connection:
        connection.sendall(head_of(1024, "POST", "/graphql", extra) + body)
        assert status(read_until_closed(connection)) == 200


def test_a_header_flood_is_cut_off_and_memory_stays_bounded(
    server: tuple[GatewayProcess, int],
) -> None:
    process, port = server
    flood_per_connection = 25 * 2**20  # 4 connections, 100 MB of header lines in all
    line = b"X-Flood: " + b"f" * 1014 + b"\r\n"
    chunk = line * 64
    before = rss_bytes(process.proc.pid)
    sent = [0] * 4

    def flood(index: int) -> None:
        with connect(port) as connection:
            try:
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")
                while sent[index] < flood_per_connection:
                    connection.sendall(chunk)
                    sent[index] += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server hung up on us: what should happen
            response = read_until_closed(connection)
            assert status(response) in (0, 431)  # a reset may swallow the 431

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    after = rss_bytes(process.proc.pid)
    print(f"header flood: server RSS {before / 2**20:.0f} MB -> {after / 2**20:.0f} MB, "
          f"accepted {sum(sent) / 2**20:.1f} MB of 100 MB")  # fmt: skip
    assert all(s < flood_per_connection / 4 for s in sent), sent
    assert after - before < 32 * 2**20


def test_a_connection_that_sends_nothing_is_closed(server: tuple[GatewayProcess, int]) -> None:
    _, port = server
    with connect(port) as connection:
        assert read_until_closed(connection) == b""


def test_a_connection_that_stops_in_its_head_is_closed(
    server: tuple[GatewayProcess, int],
) -> None:
    _, port = server
    with connect(port) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Half: ")
        assert status(read_until_closed(connection)) in (0, 408)


def test_a_head_sent_a_byte_at_a_time_is_closed_at_its_deadline(
    server: tuple[GatewayProcess, int],
) -> None:
    """The deadline covers the whole head: trickling bytes does not extend it."""
    _, port = server
    with connect(port) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\n")
        trickle = threading.Event()
        try:
            for _ in range(EOF_WITHIN_S * 10):
                connection.sendall(b"X")
                trickle.wait(0.1)  # pacing the attack, not synchronization
        except (BrokenPipeError, ConnectionResetError):
            return
        raise AssertionError("the server kept reading a head for 30 s")


@pytest.mark.parametrize("path", ["/graphql", "/nim/cc"])
def test_a_request_whose_body_stops_short_is_closed(
    server: tuple[GatewayProcess, int], path: str
) -> None:
    _, port = server
    with connect(port) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            'Content-Length: 1000\r\n\r\n{"query": '.encode()
        )
        assert status(read_until_closed(connection)) in (0, 408)


def test_keep_alive_connections_serve_several_requests(
    server: tuple[GatewayProcess, int],
) -> None:
    _, port = server
    request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    with connect(port) as connection:
        for _ in range(3):
            connection.sendall(request)
            response = b""
            while not response.endswith(b'{"status":"ok"}'):
                chunk = connection.recv(65536)
                assert chunk, "closed between requests"
                response += chunk
            assert status(response) == 200


def test_pipelined_requests_are_all_answered(server: tuple[GatewayProcess, int]) -> None:
    _, port = server
    request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    with connect(port) as connection:
        connection.sendall(
            request * 3 + request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
        )
        assert read_until_closed(connection).count(b"HTTP/1.1 200 OK") == 4


def test_the_limits_have_sane_defaults() -> None:
    from gateway.settings import Settings

    settings = Settings(jwt_secret=SECRET)
    assert 8192 <= settings.http_max_header_bytes <= 65536
    assert 0 < settings.http_header_timeout_s <= 60
    assert 0 < settings.http_body_timeout_s <= 120


def test_the_limits_reach_worker_processes() -> None:
    require(bool(POSTGRES_URL), "--workers needs PostgreSQL: set GATEWAY_TEST_POSTGRES_URL")
    port = free_tcp_port()
    with sync_postgres_schema(POSTGRES_URL) as url:
        env = {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_DATABASE_URL": url,
               "GATEWAY_HTTP_HEADER_TIMEOUT_S": "1"}  # fmt: skip
        with gateway("serve", "--workers", "2", "--port", str(port), env=env):
            wait_until_listening(port)  # the workers listen after their start-up
            with connect(port) as connection:
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Half: ")
                assert status(read_until_closed(connection)) in (0, 408)


# Behind the shipped proxy: deploy/nginx.conf bounds the same things before the gateway sees them
# (its timeouts shortened here, which also checks the shipped file sets them).


@pytest.fixture(scope="module")
def proxy(
    server: tuple[GatewayProcess, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    require(bool(nginx), "nginx is not installed: apt-get install nginx-light")
    _, port = server
    edits = (("client_header_timeout 10s;", "client_header_timeout 1s;"),
             ("client_body_timeout 30s;", "client_body_timeout 1s;"))  # fmt: skip
    with run_nginx(nginx, [port, port], tmp_path_factory.mktemp("nginx"), edits) as url:
        yield int(url.rsplit(":", 1)[1])


def test_the_proxy_refuses_a_header_flood(proxy: int) -> None:
    # nginx answers, then reads and discards what follows for a while (lingering close): its
    # memory stays bounded though it keeps accepting bytes, so send 1 MB and read the answer.
    line = b"X-Flood: " + b"f" * 1014 + b"\r\n"
    with connect(proxy) as connection:
        with suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n" + line * 1024)
        assert status(read_until_closed(connection)) in (400, 494)


def test_the_proxy_closes_a_connection_that_stops_in_its_head(proxy: int) -> None:
    with connect(proxy) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Half: ")
        assert status(read_until_closed(connection)) in (0, 408)


def test_the_proxy_closes_a_request_whose_body_stops_short(proxy: int) -> None:
    with connect(proxy) as connection:
        connection.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"query": '
        )
        assert status(read_until_closed(connection)) in (0, 408)
