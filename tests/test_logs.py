"""Logs for whoever reads them: plain text lines for a person at a terminal, clean JSON lines (no
terminal colour codes inside) anywhere else, unless GATEWAY_LOG_FORMAT says which."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers import SECRET
from tests.process import gateway

ESCAPE = "\x1b"


def test_through_a_pipe_every_line_is_clean_json(tmp_path: Path, free_port: int) -> None:
    env = {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_LOG_FORMAT": ""}
    with gateway("serve", "--db", str(tmp_path / "g.db"), "--port", str(free_port),
                 env=env) as server:  # fmt: skip
        server.wait_for("Application startup complete")
        httpx.get(f"http://127.0.0.1:{free_port}/healthz", headers={"X-Request-ID": "req-9"})
        server.wait_for("req-9")
        server.stop()
        server.wait_for_end()
    records = [json.loads(line) for line in server.output]
    assert any("Uvicorn running on" in r["message"] for r in records)
    for record in records:
        assert ESCAPE not in json.dumps(record, ensure_ascii=False), record
        assert "color_message" not in record


def test_on_a_terminal_lines_are_text_for_people(tmp_path: Path, free_port: int) -> None:
    lines = _on_a_terminal(tmp_path, free_port, {"GATEWAY_LOG_FORMAT": ""})
    started = next(line for line in lines if "Application startup complete" in line)
    assert not started.lstrip().startswith("{")
    assert "INFO" in started


def test_a_chosen_format_holds_on_a_terminal(tmp_path: Path, free_port: int) -> None:
    lines = _on_a_terminal(tmp_path, free_port, {"GATEWAY_LOG_FORMAT": "json"})
    started = next(line for line in lines if "Application startup complete" in line)
    assert json.loads(started)["level"] == "INFO"


def _on_a_terminal(tmp_path: Path, port: int, env: dict[str, str]) -> list[str]:
    """What `gateway serve` writes to a pseudo-terminal, up to its start-up and a clean stop."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--db", str(tmp_path / "g.db"),
         "--port", str(port)],
        stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal,
        env={**os.environ, "GATEWAY_JWT_SECRET": SECRET, "PYTHONUNBUFFERED": "1", **env},
    )  # fmt: skip
    os.close(terminal)
    written = b""
    deadline = time.monotonic() + 60
    try:
        while b"Application startup complete" not in written:
            assert time.monotonic() < deadline, written.decode(errors="replace")
            written += os.read(controller, 65536)
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.close(controller)
    return written.decode().splitlines()
