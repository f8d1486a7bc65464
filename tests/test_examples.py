"""The README's walkthroughs, run against a real gateway process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import APP_SECRET, SECRET
from tests.process import gateway

ROOT = Path(__file__).parent.parent
WALKTHROUGH = ROOT / "examples" / "cc_walkthrough.py"
# The walkthrough as a plain `pip install .` runs it: without the test extras (httpx).
WITHOUT_HTTPX = (
    "import runpy, sys; sys.modules['httpx'] = None; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.fixture
def running(tmp_path: Path, free_port: int) -> Iterator[str]:
    env = {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_NIM_APP_SECRET": APP_SECRET}
    with gateway("serve", "--db", str(tmp_path / "gw.db"), "--port", str(free_port),
                 env=env) as server:  # fmt: skip
        server.wait_for("Application startup complete")
        yield f"http://127.0.0.1:{free_port}"


def walkthrough(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", WITHOUT_HTTPX, str(WALKTHROUGH), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_cc_walkthrough_sees_p2p_team_and_recall(running: str) -> None:
    result = walkthrough("--url", running, "--app-secret", APP_SECRET, "--jwt-secret", SECRET)
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = [line.split()[0] for line in result.stdout.splitlines() if ": {" in line]
    assert verdicts == ["ok", "ok", "ok"], result.stdout


def test_a_wrong_jwt_secret_is_an_auth_error_that_names_the_option(running: str) -> None:
    result = walkthrough(
        "--url",
        running,
        "--app-secret",
        APP_SECRET,
        "--jwt-secret",
        "not-the-secret-but-as-long-as-a-real-one",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "UNAUTHENTICATED" in line
    assert "--jwt-secret" in line
    assert "POST /nim/cc" not in result.stdout  # refused before anything was posted


def test_a_wrong_app_secret_is_a_signature_error_that_names_the_option(running: str) -> None:
    result = walkthrough("--url", running, "--app-secret", "wrong", "--jwt-secret", SECRET)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "BAD_CHECKSUM" in line
    assert "--app-secret" in line


def test_no_gateway_there_is_one_line(free_port: int) -> None:
    url = f"http://127.0.0.1:{free_port}"
    result = walkthrough("--url", url, "--app-secret", APP_SECRET, "--jwt-secret", SECRET)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert f"cannot reach the gateway at {url}" in line


def test_help_tells_the_whole_story() -> None:
    result = walkthrough("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "then read the three users' session lists over GraphQL and check" in text
    assert "Exits 0 when every list is as expected" in text
    for option in ("--url", "--app-secret", "--jwt-secret"):
        assert f"{option} " in result.stdout
    assert "GATEWAY_NIM_APP_SECRET" in text
    assert "GATEWAY_JWT_SECRET" in text
