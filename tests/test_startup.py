"""Start-up failures: the real `gateway serve` exits with status 1, promptly, with one readable
line naming what failed (path, host:port, database), no traceback at the default log level, and
nothing left behind in the directory it ran in (no new database, no demo keys)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import POSTGRES_URL
from tests.helpers import SECRET
from tests.process import free_tcp_port
from tests.tools import require

# Long enough for a loaded CI machine; a start-up that hangs fails here instead of hanging.
EXIT_WITHIN_S = 60


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """The directory `gateway serve` runs in, as a newcomer's would be."""
    directory = tmp_path / "scratch"
    directory.mkdir()
    return directory


def contents(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else b"/"
            for p in sorted(directory.rglob("*"))}  # fmt: skip


def failed_start(scratch: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """Run ``gateway serve ARGS`` in ``scratch``, which must fail and leave ``scratch`` as it
    was: the lines it printed."""
    environment = {
        **os.environ, "GATEWAY_JWT_SECRET": SECRET, "GATEWAY_PG_CONNECT_RETRIES": "0",
        "GATEWAY_PORT": str(free_tcp_port()), "PYTHONUNBUFFERED": "1", **(env or {}),
    }  # fmt: skip
    environment.pop("GATEWAY_LOG_LEVEL", None)
    environment.pop("GATEWAY_DATABASE_URL", None)
    before = contents(scratch)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", *args],
        cwd=scratch, env=environment, capture_output=True, text=True, timeout=EXIT_WITHIN_S,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert contents(scratch) == before, f"left behind in {scratch}: {sorted(contents(scratch))}"
    return output.splitlines()


def the_one_line(lines: list[str], *names: str) -> str:
    """The failure, which must be all that was printed, and name all of ``names``."""
    assert len(lines) == 1, "more than one line:\n" + "\n".join(lines)
    assert all(name in lines[0] for name in names), f"{lines[0]!r} does not name {names}"
    return lines[0]


def test_a_file_that_is_not_a_database(scratch: Path) -> None:
    notes = scratch / "notes.txt"
    notes.write_text("shopping: milk, eggs\n" * 100)
    line = the_one_line(failed_start(scratch, "--db", str(notes)), str(notes))
    assert "not a database" in line


@pytest.mark.parametrize("where", ["missing-directory", "under-a-file"])
def test_a_database_path_that_cannot_be_written(scratch: Path, where: str) -> None:
    (scratch / "a-file").write_text("")
    parent = scratch / ("no-such-directory" if where == "missing-directory" else "a-file")
    db = parent / "gateway.db"
    the_one_line(failed_start(scratch, "--db", str(db)), str(db))


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_port_already_in_use(scratch: Path, taken_port: int) -> None:
    # The default database, ./gateway.db, is not created.
    lines = failed_start(scratch, "--port", str(taken_port))
    assert "in use" in the_one_line(lines, f"127.0.0.1:{taken_port}")


def test_a_port_already_in_use_is_found_before_the_demo_seeds_or_prints(
    scratch: Path, taken_port: int
) -> None:
    # No demo database, no demo keys, no banner (with its token).
    env = {"GATEWAY_JWT_SECRET": ""}
    lines = failed_start(scratch, "--demo", "--db", "gateway-demo.db", "--port", str(taken_port),
                         env=env)  # fmt: skip
    assert "in use" in the_one_line(lines, f"127.0.0.1:{taken_port}")


def test_an_unreachable_postgresql_names_the_server_and_each_attempt(
    scratch: Path, free_port: int
) -> None:
    # Nothing listens on free_port: connections are refused (three attempts, then given up).
    url = f"postgresql://127.0.0.1:{free_port}/gateway"
    *retries, failure = failed_start(scratch, "--db", url, env={"GATEWAY_PG_CONNECT_RETRIES": "2"})
    server = f"127.0.0.1:{free_port}"
    assert len(retries) == 2, retries
    for attempt, line in enumerate(retries, start=1):
        assert server in line
        assert re.search(rf"\battempt {attempt} of 3\b", line), line
    assert "PostgreSQL" in the_one_line([failure], server, "3 attempts")


def test_a_postgresql_that_never_answers_is_given_up_after_the_connect_timeout(
    scratch: Path,
) -> None:
    # The kernel completes the TCP handshake on a listening socket nobody accepts from: a hung
    # server or a black-holed proxy. Each attempt gives up after GATEWAY_PG_CONNECT_TIMEOUT_S
    # instead of waiting as long as the driver would (60 s each).
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        server = f"127.0.0.1:{hung.getsockname()[1]}"
        env = {"GATEWAY_PG_CONNECT_RETRIES": "1", "GATEWAY_PG_CONNECT_TIMEOUT_S": "0.5"}
        *retries, failure = failed_start(scratch, "--db", f"postgresql://{server}/gateway", env=env)
    assert len(retries) == 1, retries
    assert "timed out" in retries[0]
    assert "timed out" in the_one_line([failure], server, "2 attempts")


def test_a_missing_postgresql_database(scratch: Path) -> None:
    require(bool(POSTGRES_URL), "needs PostgreSQL: set GATEWAY_TEST_POSTGRES_URL")
    server = urlparse(POSTGRES_URL)
    name = f"gateway_missing_{uuid.uuid4().hex[:8]}"
    url = server._replace(path=f"/{name}").geturl()
    lines = failed_start(scratch, "--db", url)
    assert "does not exist" in the_one_line(lines, name, f"{server.hostname}:{server.port or 5432}")


def test_a_password_in_the_database_url_is_never_printed(scratch: Path, free_port: int) -> None:
    url = f"postgresql://gateway:hunter2-secret@127.0.0.1:{free_port}/gateway"
    lines = failed_start(scratch, "--db", url, env={"GATEWAY_PG_CONNECT_RETRIES": "1"})
    assert not any("hunter2-secret" in line for line in lines)


@pytest.mark.parametrize("algorithms", ["RS256,HS256", "HS256,RS256"])
def test_jwt_algorithms_of_two_key_families(scratch: Path, algorithms: str) -> None:
    public_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = {"GATEWAY_JWT_PUBLIC_KEY": public_pem, "GATEWAY_JWT_SECRET": ""}
    env = (key if algorithms.startswith("RS") else {}) | {"GATEWAY_JWT_ALGORITHMS": algorithms}
    foreign = "HS256" if algorithms.startswith("RS") else "RS256"
    # --demo: found before the demo database is seeded.
    lines = failed_start(scratch, "--demo", env=env)
    the_one_line(lines, "GATEWAY_JWT_ALGORITHMS", foreign)


def test_damaged_demo_keys_are_named(scratch: Path) -> None:
    (scratch / "gateway-demo.db.demo-keys").write_text("{")
    lines = failed_start(
        scratch, "--demo", "--db", "gateway-demo.db", env={"GATEWAY_JWT_SECRET": ""}
    )
    the_one_line(lines, "gateway-demo.db.demo-keys")


@pytest.mark.parametrize(
    "path", ["/graphql", "/healthz", "/", "/nim/teams/t1/members", "/graphiql/assets/x", "nim/cc",
             "/nim/{x}"],
)  # fmt: skip
def test_a_webhook_path_the_gateway_itself_serves_is_refused(scratch: Path, path: str) -> None:
    """NIM's webhook would never reach a path that one of the gateway's own routes answers."""
    lines = failed_start(scratch, env={"GATEWAY_NIM_CC_PATH": path})
    the_one_line(lines, "GATEWAY_NIM_CC_PATH", repr(path))


def test_the_refused_webhook_paths_cover_every_route_of_the_gateway(
    settings: Settings, store: SessionStore
) -> None:
    routes: list[BaseRoute] = create_app(settings, store=store).routes
    paths = {r.path for r in routes if isinstance(r, Route | WebSocketRoute)}
    for path in paths - {settings.nim_cc_path}:
        with pytest.raises(ValueError, match="the gateway's own"):
            Settings(nim_cc_path=re.sub(r"\{[^}]+\}", "x", path))
