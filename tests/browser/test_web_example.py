"""examples/web, built as a user builds it and driven in headless Chromium against a real gateway
on another origin: the list renders, scrolling loads the next pages, a webhook posted meanwhile
shows up at the top without a reload, and the ext editor and delete reach the server."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningGateway, start_gateway
from tests.helpers import cc_message, cc_recall
from tests.tools import npm, npm_project, screenshot_path

# Chromium and npm on a shared machine: more than the suite's 120 s default
pytestmark = pytest.mark.timeout(300)

PEERS = 45  # more than two pages of 20


@pytest.fixture(scope="module")
def dist() -> Path:
    npm_project("clients")  # the app is built on the operations generated there
    web = npm_project("examples/web")
    result = npm(web, "run", "build")
    assert result.returncode == 0, result.stdout + result.stderr
    return web / "dist"


def test_the_list_logic_passes_its_unit_tests(dist: Path) -> None:
    """Vitest: ordering, paging and live merges of src/sessionList.ts, edge cases included."""
    result = npm(dist.parent, "test")
    assert result.returncode == 0, result.stdout + result.stderr


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site(dist: Path) -> Iterator[str]:
    """The built app on its own origin, as a static host would serve it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=dist))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway(tmp_path: Path, site: str) -> Iterator[RunningGateway]:
    with start_gateway(tmp_path / "web.db", GATEWAY_ALLOWED_ORIGINS=site) as running:
        seed(running)
        yield running


def seed(running: RunningGateway) -> None:
    now = int(time.time() * 1000)
    for i in range(PEERS):  # peer-00 oldest ... peer-44 newest
        sent = now - (PEERS - i) * 60_000
        running.webhook(cc_message(f"seed-{i}", f"peer-{i:02}", "alice", sent, text=f"Hi #{i}"))
    running.webhook(cc_recall("seed-43", "peer-43", "alice", now - 60_000))


# Tests take `page` last: it closes first, before the gateway its requests go to.


def rows(page: Page) -> Any:
    return page.get_by_test_id("session-row")


def sign_in(page: Page, site: str, gateway: RunningGateway) -> None:
    page.goto(site)
    page.get_by_label("GraphQL endpoint").fill(gateway.graphql_url)
    page.get_by_label("Token").fill(gateway.token("alice"))
    page.get_by_role("button", name="Connect").click()


def scroll_to_end(page: Page) -> None:
    page.get_by_test_id("session-list").evaluate("list => list.scrollTo(0, list.scrollHeight)")


def test_the_list_scrolls_and_updates_live(site: str, gateway: RunningGateway, page: Page) -> None:
    sign_in(page, site, gateway)
    expect(rows(page)).to_have_count(20)
    expect(rows(page).first).to_have_attribute("data-key", "p2p|peer-44")
    expect(rows(page).first.get_by_test_id("preview")).to_have_text("Hi #44")
    recalled = rows(page).nth(1).get_by_test_id("preview")
    expect(recalled).to_have_text("peer-43 recalled a message")
    expect(recalled).to_have_class("preview revoked")
    expect(page.get_by_test_id("live-status")).to_have_text("live")
    expect(page.get_by_test_id("total-unread")).to_have_text(str(PEERS - 1))
    page.screenshot(path=screenshot_path("web-session-list"))

    scroll_to_end(page)
    expect(rows(page)).to_have_count(40)
    scroll_to_end(page)
    expect(rows(page)).to_have_count(PEERS)
    expect(page.get_by_test_id("list-end")).to_have_text(f"{PEERS} sessions, no more")
    keys = [row.get_attribute("data-key") for row in rows(page).all()]
    assert keys == [f"p2p|peer-{i:02}" for i in reversed(range(PEERS))]  # newest first, once each

    page.evaluate("window.notReloaded = true")
    gateway.webhook(cc_message("live-1", "zoe", "alice", int(time.time() * 1000), text="Live!"))
    expect(rows(page).first).to_have_attribute("data-key", "p2p|zoe")
    expect(rows(page).first.get_by_test_id("preview")).to_have_text("Live!")
    # A message in a session further down moves it to the top.
    gateway.webhook(cc_message("live-2", "peer-00", "alice", int(time.time() * 1000), text="Me!"))
    expect(rows(page).first).to_have_attribute("data-key", "p2p|peer-00")
    expect(rows(page).nth(1)).to_have_attribute("data-key", "p2p|zoe")
    expect(rows(page)).to_have_count(PEERS + 1)
    expect(page.get_by_test_id("total-unread")).to_have_text(str(PEERS + 1))
    assert page.evaluate("window.notReloaded") is True
    page.get_by_test_id("session-list").evaluate("list => list.scrollTo(0, 0)")
    page.screenshot(path=screenshot_path("web-live-update"))


def test_ext_editor_mark_read_and_delete_reach_the_server(
    site: str, gateway: RunningGateway, page: Page
) -> None:
    sign_in(page, site, gateway)
    rows(page).first.click()
    panel = page.get_by_test_id("session-panel")
    panel.get_by_test_id("ext-editor").fill('{"starred": true}')
    panel.get_by_role("button", name="Save ext").click()
    expect(panel.get_by_role("status")).to_have_text("Saved")
    panel.get_by_role("button", name="Mark read").click()
    expect(panel.get_by_role("status")).to_have_text("Marked read")
    expect(page.get_by_test_id("total-unread")).to_have_text(str(PEERS - 2))
    page.screenshot(path=screenshot_path("web-session-panel"))
    lookup = "query($id: ID!) { session(id: $id) { serverExt unreadCount } }"
    stored = gateway.query("alice", lookup, id="p2p|peer-44")["session"]
    assert stored == {"serverExt": '{"starred": true}', "unreadCount": 0}

    panel.get_by_role("button", name="Delete session").click()
    expect(rows(page).first).to_have_attribute("data-key", "p2p|peer-43")
    expect(page.get_by_test_id("session-panel")).to_have_count(0)
    assert gateway.query("alice", lookup, id="p2p|peer-44")["session"] is None


GROUP = """mutation($name: String!, $ids: [ID!]) {
  createSessionGroup(input: {name: $name, sessionIds: $ids}) { group { id } } }"""


def tab(page: Page, name: str) -> Any:
    return page.locator(f'[data-testid="group-tab"][data-group="{name}"]')


def test_group_tabs_show_live_badges_and_a_mute_toggle(
    site: str, gateway: RunningGateway, page: Page
) -> None:
    gateway.query("alice", GROUP, name="Work", ids=["p2p|peer-44", "p2p|peer-42"])
    gateway.query("alice", GROUP, name="Friends", ids=["p2p|peer-40"])
    sign_in(page, site, gateway)
    expect(page.get_by_test_id("group-tab")).to_have_count(3)
    expect(tab(page, "All").get_by_test_id("tab-unread")).to_have_text(str(PEERS - 1))
    expect(tab(page, "Work").get_by_test_id("tab-unread")).to_have_text("2")
    expect(tab(page, "Friends").get_by_test_id("tab-unread")).to_have_text("1")

    # A message in a Work session raises Work's badge live, and no other group's.
    gateway.webhook(cc_message("g-1", "peer-42", "alice", int(time.time() * 1000), text="Work!"))
    expect(tab(page, "Work").get_by_test_id("tab-unread")).to_have_text("3")
    expect(tab(page, "All").get_by_test_id("tab-unread")).to_have_text(str(PEERS))
    expect(tab(page, "Friends").get_by_test_id("tab-unread")).to_have_text("1")

    tab(page, "Work").click()
    expect(rows(page)).to_have_count(2)
    expect(rows(page).first).to_have_attribute("data-key", "p2p|peer-42")
    expect(page.get_by_test_id("list-end")).to_have_text("2 sessions, no more")

    # Muting a session keeps its own count but takes it out of the badges.
    rows(page).first.click()
    panel = page.get_by_test_id("session-panel")
    panel.get_by_role("button", name="Mute").click()
    expect(panel.get_by_role("status")).to_have_text("Muted")
    expect(rows(page).first.get_by_test_id("muted")).to_have_count(1)
    expect(tab(page, "Work").get_by_test_id("tab-unread")).to_have_text("1")
    expect(tab(page, "All").get_by_test_id("tab-unread")).to_have_text(str(PEERS - 2))
    expect(page.get_by_test_id("total-unread")).to_have_text(str(PEERS - 2))
    page.screenshot(path=screenshot_path("web-group-tabs"))
    stored = gateway.query("alice", '{ session(id: "p2p|peer-42") { muted unreadCount } }')
    assert stored["session"] == {"muted": True, "unreadCount": 2}

    panel.get_by_role("button", name="Unmute").click()
    expect(tab(page, "Work").get_by_test_id("tab-unread")).to_have_text("3")
