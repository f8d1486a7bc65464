"""Browser tests: a real gateway process, Debian's Chromium driven by Playwright, screenshots kept
in test-artifacts/screenshots/ (GATEWAY_TEST_ARTIFACTS)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from pydantic import SecretStr

from gateway import graphiql
from gateway.auth import issue_token
from gateway.domain.checksum import sign
from gateway.settings import Settings
from tests.helpers import APP_SECRET, SECRET
from tests.process import GatewayProcess, free_tcp_port
from tests.tools import CHROMIUM_ARGS, chromium

# Assertions wait for the page up to this long: CI machines are shared and sometimes slow.
expect.set_options(timeout=15_000)


@dataclass
class RunningGateway:
    """A `gateway serve` child process and what a test needs to talk to it as its users do."""

    process: GatewayProcess
    url: str
    settings: Settings = field(
        default_factory=lambda: Settings(jwt_secret=SecretStr(SECRET), _env_file=None)
    )

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def token(self, account: str) -> str:
        return issue_token(self.settings, account)

    def webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        """Post a message-CC event signed as NIM signs it."""
        raw = orjson.dumps(body)
        signed = sign(APP_SECRET, raw, int(time.time() * 1000))
        headers = {**signed, "Content-Type": "application/json"}
        response = httpx.post(f"{self.url}/nim/cc", content=raw, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def query(self, account: str, query: str, **variables: Any) -> dict[str, Any]:
        response = httpx.post(
            self.graphql_url,
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.token(account)}"},
            timeout=10,
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


@contextmanager
def start_gateway(database: Path, *args: str, **env: str) -> Iterator[RunningGateway]:
    port = free_tcp_port()
    process = GatewayProcess(
        "serve", "--port", str(port), "--db", str(database), *args,
        env={
            "GATEWAY_JWT_SECRET": SECRET,
            "GATEWAY_NIM_APP_SECRET": APP_SECRET,
            "GATEWAY_GRAPHIQL_DIR": str(graphiql.default_dir()),
            "GATEWAY_LOG_FORMAT": "text",
            **env,
        },
    )  # fmt: skip
    try:
        process.wait_for("Uvicorn running")
        yield RunningGateway(process, f"http://127.0.0.1:{port}")
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile per test; any page error or console error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    page.on("console", console)
    yield page
    context.close()
    assert not problems, "\n".join(problems)
