"""GraphiQL as a user meets it: the page at /graphql, with no internet, a token pasted into the
Headers tab, a sessions query run and its result read off the result pane."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import Locator, Page, expect

from gateway import graphiql
from tests.browser.conftest import RunningGateway, start_gateway
from tests.helpers import cc_message
from tests.tools import require, screenshot_path

# Chromium on a shared machine: more than the suite's 120 s default
pytestmark = pytest.mark.timeout(300)

QUERY = """query FirstSessions {
  sessions(first: 5) {
    totalCount
    edges { node { key type lastMessage { from text } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
SUBSCRIPTION = """subscription Live {
  sessionEvents {
    ... on SessionUpserted { session { key lastMessage { text } } }
  }
}"""


@pytest.fixture
def demo_gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    """`gateway serve --demo` with local assets only: a CDN request would fail the page."""
    require(graphiql.installed(graphiql.default_dir()), "run `gateway install-graphiql` first")
    with start_gateway(tmp_path / "demo.db", "--demo", GATEWAY_GRAPHIQL_CDN="false") as running:
        yield running


def editor(page: Page, area: str) -> Locator:
    return page.locator(f"{area} .CodeMirror:visible").first


def paste(page: Page, area: str, text: str) -> None:
    """Click into a GraphiQL editor, select all and paste, as a user does."""
    editor(page, area).click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def result(page: Page) -> dict[str, Any]:
    text = page.evaluate(
        "() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
    )
    parsed: dict[str, Any] = orjson.loads(text)
    return parsed


def run_query(page: Page) -> dict[str, Any]:
    page.locator(".graphiql-execute-button").click()
    response = page.locator(".graphiql-response .CodeMirror-code")
    expect(response).to_contain_text('"', timeout=10_000)  # wait for a result to be shown
    return result(page)


def test_graphiql_runs_a_sessions_query_with_a_pasted_token(
    demo_gateway: RunningGateway, page: Page
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(demo_gateway.graphql_url)
    expect(page.get_by_test_id("graphiql-container")).to_be_visible(timeout=20_000)
    paste(page, ".graphiql-query-editor", QUERY)

    # Without a token the gateway answers, and says why there is no data.
    unauthenticated = run_query(page)
    assert unauthenticated["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    page.get_by_role("button", name="Headers").click()
    token = demo_gateway.token("alice")
    headers = orjson.dumps({"Authorization": f"Bearer {token}"}, option=orjson.OPT_INDENT_2)
    paste(page, ".graphiql-editor-tool", headers.decode())
    page.locator(".graphiql-response .CodeMirror").first.evaluate("e => e.CodeMirror.setValue('')")
    answer = run_query(page)

    sessions = answer["data"]["sessions"]
    keys = [edge["node"]["key"] for edge in sessions["edges"]]
    # The demo's freshest activity: carol's team message, then bob's chat.
    assert keys[:2] == ["team|1001", "p2p|bob"]
    assert sessions["edges"][0]["node"]["lastMessage"] == {"from": "carol", "text": "Standup in 5"}
    assert sessions["pageInfo"]["hasNextPage"] is True
    assert len(keys) == 5
    page.screenshot(path=screenshot_path("graphiql"), full_page=True)

    # Everything the page loaded came from the gateway itself.
    assert requests
    assert all(url.startswith(demo_gateway.url) for url in requests), requests


def wait_for_subscriptions(gateway: RunningGateway, count: int) -> None:
    deadline = time.monotonic() + 10
    while f"gateway_subscriptions_open {count}.0" not in httpx.get(f"{gateway.url}/metrics").text:
        assert time.monotonic() < deadline, "the subscription did not start"
        time.sleep(0.1)


def test_graphiql_streams_a_subscription_over_websockets(
    demo_gateway: RunningGateway, page: Page
) -> None:
    """GraphiQL sends its Headers as the WebSocket's connection_init payload, so a pasted token
    authenticates subscriptions too; a webhook posted meanwhile shows up in the result pane."""
    page.goto(demo_gateway.graphql_url)
    expect(page.get_by_test_id("graphiql-container")).to_be_visible(timeout=20_000)
    paste(page, ".graphiql-query-editor", SUBSCRIPTION)
    page.get_by_role("button", name="Headers").click()
    token = demo_gateway.token("alice")
    paste(
        page, ".graphiql-editor-tool", orjson.dumps({"Authorization": f"Bearer {token}"}).decode()
    )
    page.locator(".graphiql-execute-button").click()
    wait_for_subscriptions(demo_gateway, 1)  # nothing to show until an event
    sent = int(time.time() * 1000)
    demo_gateway.webhook(cc_message("graphiql-live", "zoe", "alice", sent, text="Hello, GraphiQL"))
    response = page.locator(".graphiql-response .CodeMirror-code")
    expect(response).to_contain_text("Hello, GraphiQL", timeout=10_000)
    event = result(page)["data"]["sessionEvents"]
    assert event["session"] == {"key": "p2p|zoe", "lastMessage": {"text": "Hello, GraphiQL"}}
    page.screenshot(path=screenshot_path("graphiql-subscription"))
