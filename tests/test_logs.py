"""Logs for whoever reads them: plain text lines for a person at a terminal, clean JSON lines (no
terminal colour codes inside) anywhere else, unless GATEWAY_LOG_FORMAT says which. A thread
writes them; each says what and where it was when logged."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.logs import configure_logging, flush_logs, request_id
from tests.helpers import SECRET
from tests.process import gateway

Lines = Callable[..., list[dict[str, object]]]

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


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """Logging configured as the gateway's, into a buffer; its lines once the writer is closed
    (which writes whatever is still queued). The root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging("info", "json", out)

    def lines(*, close: bool = True) -> list[dict[str, object]]:
        for handler in root.handlers if close else ():
            handler.close()
        return [json.loads(line) for line in out.getvalue().splitlines()]

    try:
        yield lines
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = handlers, level


def test_every_line_logged_is_written_by_the_time_logging_closes(json_lines: Lines) -> None:
    for n in range(1000):
        logging.getLogger("uvicorn.access").info("line %d", n)
    assert [line["message"] for line in json_lines()] == [f"line {n}" for n in range(1000)]


def test_flushing_returns_once_every_line_logged_is_written(json_lines: Lines) -> None:
    for n in range(1000):
        logging.getLogger("gateway").info("line %d", n)
    flush_logs()
    assert len(json_lines(close=False)) == 1000


def test_a_line_says_what_its_arguments_were_when_logged(json_lines: Lines) -> None:
    said = ["before"]
    logging.getLogger("gateway").warning("it was %s", said)
    said[0] = "after"
    assert json_lines()[0]["message"] == "it was ['before']"


def test_a_line_carries_the_request_id_it_was_logged_under(json_lines: Lines) -> None:
    token = request_id.set("req-5")
    try:
        logging.getLogger("gateway").info("inside")
    finally:
        request_id.reset(token)
    logging.getLogger("gateway").info("outside")
    inside, outside = json_lines()
    assert (inside["request_id"], outside["request_id"]) == ("req-5", "-")


def test_a_logged_exception_keeps_its_traceback(json_lines: Lines) -> None:
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError:
        logging.getLogger("gateway").exception("failed")
    (line,) = json_lines()
    assert line["message"] == "failed"
    assert "RuntimeError: disk on fire" in str(line["exc_info"])


def test_configuring_again_replaces_the_writer(json_lines: Lines) -> None:
    configure_logging("info", "json", io.StringIO())
    root = logging.getLogger()
    assert len(root.handlers) == 1
    logging.getLogger("gateway").info("to the new stream")
    assert json_lines() == []


async def test_a_websocket_skips_the_http_middleware_and_logs_under_its_request_id() -> None:
    from starlette.types import Receive, Scope, Send

    from gateway.logs import request_id
    from gateway.web.app import _App

    seen: list[tuple[str, object]] = []

    async def view(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((request_id.get(), scope["app"]))

    app = _App(view, routes=[])
    headers = [(b"x-request-id", b"ws-7")]
    scope = {"type": "websocket", "path": "/graphql", "headers": headers}

    async def nothing() -> dict[str, object]:
        return {}

    async def ignore(message: object) -> None:
        pass

    await app(scope, nothing, ignore)
    assert seen == [("ws-7", app)]
    assert request_id.get() == "-"
