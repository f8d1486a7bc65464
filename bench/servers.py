"""The processes a benchmark talks to: the gateway, the floors and the PostGraphile peer."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

NPM_PREFIX = Path(__file__).parent / ".npm"
POSTGRAPHILE = "postgraphile@4.14.1"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextmanager
def _serving(
    command: list[str],
    port: int,
    probe: str,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
    )
    server = Server(process, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(server.url(probe), timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"{command[0]} did not start:\n{log.read()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def start_gateway(env: dict[str, str], *, workers: int = 1) -> AbstractContextManager[Server]:
    """The gateway, in ``workers`` processes (more than one needs PostgreSQL)."""
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    return _serving(command, port, "/healthz", env)


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """A detached worktree of ``revision`` (a commit of this repository), removed afterwards:
    its gateway runs with ``PYTHONPATH`` there, on this checkout's installed libraries."""
    with tempfile.TemporaryDirectory() as parent:
        tree = Path(parent) / "beside"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), revision],
                       check=True)  # fmt: skip
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=False)


def start_floor(database: str) -> AbstractContextManager[Server]:
    port = free_port()
    return _serving(
        [sys.executable, "-m", "bench.floor", database, str(port)], port, "/page?first=1"
    )


def start_hand_floor(database: str) -> AbstractContextManager[Server]:
    port = free_port()
    return _serving(
        [sys.executable, "-m", "bench.handfloor", database, str(port)], port, "/page?first=1"
    )


def start_team_floor(database: str, app_secret: str) -> AbstractContextManager[Server]:
    port = free_port()
    return _serving(
        [sys.executable, "-m", "bench.teamfloor", database, app_secret, str(port)], port, "/nim/cc"
    )


def start_postgraphile(pg_base: str, schema: str) -> AbstractContextManager[Server] | None:
    """PostGraphile 4 over the same tables, or None where npm is missing."""
    binary = NPM_PREFIX / "node_modules" / ".bin" / "postgraphile"
    if not binary.exists():
        if shutil.which("npm") is None:
            return None
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(NPM_PREFIX),
                POSTGRAPHILE,
            ],
            check=True,
        )
    port = free_port()
    url = pg_base.replace("postgresql://", "postgres://")
    if "@" not in url:  # node-postgres, unlike libpq, does not default the user name
        url = url.replace("postgres://", f"postgres://{getpass.getuser()}@")
    command = [
        str(binary),
        "--connection",
        url,
        "--schema",
        schema,
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--disable-graphiql",
        "--disable-query-log",
        "--no-setof-functions-contain-nulls",
        "--cors",
    ]
    return _serving(command, port, "/graphql")


def start_bare_websocket() -> AbstractContextManager[Server]:
    """W6's baseline: uvicorn + Starlette, a WebSocket endpoint that only acknowledges."""
    port = free_port()
    return _serving([sys.executable, "-m", "bench.barews", str(port)], port, "/healthz")
