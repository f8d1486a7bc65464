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
import orjson

from gateway.domain.checksum import sign_request

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
    cwd: Path | None = None,
) -> Iterator[Server]:
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
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


def start_gateway(
    env: dict[str, str], *, workers: int = 1, tree: Path | None = None
) -> AbstractContextManager[Server]:
    """The gateway, in ``workers`` processes (more than one needs PostgreSQL): this checkout's,
    or the one in ``tree`` (a ``checkout``), on this checkout's installed libraries."""
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    if tree is None:
        return _serving(command, port, "/healthz", env)
    # `python -m` puts its working directory first on sys.path, before PYTHONPATH: run from
    # anywhere else, the gateway imported would be the one there (this checkout's, say).
    env = {**env, "PYTHONPATH": str(tree)}
    imported = subprocess.run(
        [sys.executable, "-c", "import gateway; print(gateway.__file__)"],
        env={**os.environ, **env}, cwd=tree, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not Path(imported).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the gateway of {tree} imports {imported}")
    return _serving(command, port, "/healthz", env, cwd=tree)


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """A detached worktree of ``revision`` (a commit of this repository), removed afterwards:
    ``start_gateway(..., tree=)`` runs its gateway, on this checkout's installed libraries."""
    with tempfile.TemporaryDirectory() as parent:
        tree = Path(parent) / "beside"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), revision],
                       check=True)  # fmt: skip
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=False)


def described(tree: Path) -> str:
    """The commit checked out in ``tree``: its short hash and the start of its subject."""
    return subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()[:100]  # fmt: skip


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


def register_team(gateway_url: str, app_secret: str, team: str, members: list[str]) -> None:
    """``members`` into the gateway's team registry, as ``team``'s."""
    body = orjson.dumps({"type": "TEAM", "members": members})
    path = f"/nim/teams/{team}/members"
    headers = sign_request(app_secret, "PUT", path, body, int(time.time() * 1000))
    url = f"{gateway_url}{path}"
    httpx.put(url, content=body, headers=headers, timeout=30).raise_for_status()


def split_cpus() -> tuple[set[int], set[int]]:
    """This process's CPUs in two halves: one for a server, one for its load generator, which
    stands for clients on other machines. Sharing cores, the scheduler may wake the load
    generator on the server's core (loopback wake-ups are affine) in one run and not in the
    next; W4 reports the team case both ways."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(cpus), set(cpus)
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` (and those it starts later) to ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def loadgen_module(module: str, *args: str, cpus: set[int] | None = None) -> dict[str, object]:
    """Runs ``module`` (a load generator, a profile) in a process of its own (on ``cpus``, when
    given); its last line of output is its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )
    result: dict[str, object] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result
