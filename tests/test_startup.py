"""Start-up failures: the real `gateway serve` exits non-zero, promptly, with one readable line
naming what failed (path, host:port, database), and no traceback at the default log level."""

from __future__ import annotations

import os
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

from tests.conftest import POSTGRES_URL
from tests.helpers import SECRET
from tests.process import free_tcp_port
from tests.tools import require

# Long enough for a loaded CI machine; a start-up that hangs fails here instead of hanging.
EXIT_WITHIN_S = 60


def failed_start(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """Run ``gateway serve ARGS``, which must fail: the lines it printed."""
    environment = {**os.environ, "GATEWAY_JWT_SECRET": SECRET, "GATEWAY_PG_CONNECT_RETRIES": "1",
                   "PYTHONUNBUFFERED": "1", **(env or {})}  # fmt: skip
    environment.pop("GATEWAY_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--port", str(free_tcp_port()), *args],
        env=environment, capture_output=True, text=True, timeout=EXIT_WITHIN_S,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output
    return output.splitlines()


def line_naming(lines: list[str], *names: str) -> str:
    """The one line that names all of ``names``."""
    naming = [line for line in lines if all(name in line for name in names)]
    assert naming, f"no line names {names}:\n" + "\n".join(lines)
    return naming[-1]


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping: milk, eggs\n" * 100)
    line = line_naming(failed_start("--db", str(notes)), str(notes))
    assert "not a database" in line


@pytest.mark.parametrize("where", ["missing-directory", "under-a-file"])
def test_a_database_path_that_cannot_be_written(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("")
    parent = tmp_path / ("no-such-directory" if where == "missing-directory" else "a-file")
    db = parent / "gateway.db"
    line_naming(failed_start("--db", str(db)), str(db))


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_port_already_in_use(tmp_path: Path, taken_port: int) -> None:
    lines = failed_start("--db", str(tmp_path / "gateway.db"), "--port", str(taken_port))
    line = line_naming(lines, f"127.0.0.1:{taken_port}")
    assert "in use" in line


def test_an_unreachable_postgresql(free_port: int) -> None:
    # Nothing listens on free_port: connections are refused (retried once, then given up).
    url = f"postgresql://127.0.0.1:{free_port}/gateway"
    line = line_naming(failed_start("--db", url), f"127.0.0.1:{free_port}")
    assert "PostgreSQL" in line


def test_a_missing_postgresql_database() -> None:
    require(bool(POSTGRES_URL), "needs PostgreSQL: set GATEWAY_TEST_POSTGRES_URL")
    server = urlparse(POSTGRES_URL)
    name = f"gateway_missing_{uuid.uuid4().hex[:8]}"
    url = server._replace(path=f"/{name}").geturl()
    line = line_naming(failed_start("--db", url), name, f"{server.hostname}:{server.port or 5432}")
    assert "does not exist" in line


def test_a_password_in_the_database_url_is_never_printed(free_port: int) -> None:
    url = f"postgresql://gateway:hunter2-secret@127.0.0.1:{free_port}/gateway"
    lines = failed_start("--db", url)
    assert not any("hunter2-secret" in line for line in lines)


@pytest.mark.parametrize("algorithms", ["RS256,HS256", "HS256,RS256"])
def test_jwt_algorithms_of_two_key_families(algorithms: str) -> None:
    public_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = {"GATEWAY_JWT_PUBLIC_KEY": public_pem, "GATEWAY_JWT_SECRET": ""}
    env = (key if algorithms.startswith("RS") else {}) | {"GATEWAY_JWT_ALGORITHMS": algorithms}
    foreign = "HS256" if algorithms.startswith("RS") else "RS256"
    line_naming(failed_start("--db", ":memory:", env=env), "GATEWAY_JWT_ALGORITHMS", foreign)
