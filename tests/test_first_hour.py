"""A newcomer's first hour, as printed: the README's shell lines and the lines the demo banner
prints, run as they are (taken from README.md and from the banner, never retyped here) in a
fresh copy of the repository (as a clone has it), against the demo `make demo` installs and
starts there: one `make demo` for the whole module, with its own `.venv` of the runtime only.

What else a newcomer meets is checked on the same install: no test or benchmark package in it,
`gateway --version`, the hints of a taken port, a CORS refusal and `gateway sign` without a
secret, sign-in with an identity provider's rotating keys, docs/api.md's first lines, the cache
schema `clients/` exports; and GraphiQL after a plain (not editable) `pip install`, offline,
healing in the browser when `gateway install-graphiql` runs, without a restart.

Only the port is filled in: the demo listens on a free one (GATEWAY_PORT) rather than :8000, so
the docs' `127.0.0.1:8000` becomes that port. `gateway` itself is not on the PATH, as on a fresh
machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import expect, sync_playwright

from tests import docs
from tests.process import Process, free_tcp_port
from tests.test_jwks import ISSUER, Provider, serving
from tests.tools import (
    CHROMIUM_ARGS,
    ROOT,
    chromium,
    newcomer_environment,
    require,
    screenshot_path,
)

pytestmark = pytest.mark.timeout(600)

SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
SHELL_TIMEOUT_S = 60


def sh_blocks(page: Path) -> list[list[str]]:
    """The ``sh`` blocks of a Markdown page, as lines without their trailing comments."""
    return [
        [_without_comment(line) for line in block.splitlines() if _without_comment(line)]
        for block in SH_BLOCK.findall(page.read_text())
    ]


def _without_comment(line: str) -> str:
    # Comments in these blocks start at two spaces and a '#', outside any quotes.
    return re.sub(r"\s{2,}#.*$", "", line).rstrip() if not line.startswith("#") else ""


def block_with(blocks: list[list[str]], needle: str) -> list[str]:
    found = [block for block in blocks if any(needle in line for line in block)]
    assert len(found) == 1, f"{len(found)} blocks have {needle!r}: {found}"
    return found[0]


def banner_blocks(banner: list[str]) -> list[list[str]]:
    """The commands the banner prints: runs of lines indented by two spaces."""
    blocks: list[list[str]] = []
    previous_indented = False
    for line in banner:
        indented = line.startswith("  ") and not line.startswith("   ")
        if indented:
            if not previous_indented:
                blocks.append([])
            blocks[-1].append(line[2:])
        previous_indented = indented
    return blocks


class Checkout:
    """A scratch copy of the repository (its files as a clone has them, with this working
    tree's changes) that shares this checkout's installed .venv, and a newcomer's shell in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = newcomer_environment()

    def shell(self, lines: list[str], **env: str) -> str:
        """Run ``lines`` in one shell, as pasted into a terminal: what it printed."""
        done = subprocess.run(
            ["bash", "-e", "-c", "\n".join(lines)], cwd=self.root, env={**self.env, **env},
            capture_output=True, text=True, timeout=SHELL_TIMEOUT_S, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{lines}\n{done.stdout}{done.stderr}"
        return done.stdout

    def start(self, lines: list[str], **env: str) -> Process:
        return Process(["bash", "-e", "-c", "\n".join(lines)], cwd=self.root,
                       env={**self.env, **env}, group=True)  # fmt: skip


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    root = tmp_path_factory.mktemp("first-hour") / "session-gateway"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # not a file deleted in the working tree
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    return Checkout(root)


class Demo:
    def __init__(self, process: Process, port: int, banner: list[str], took_s: float) -> None:
        self.process = process
        self.port = port
        self.took_s = took_s  # from `make demo` to the first answer
        self.banner = banner
        self.url = f"http://127.0.0.1:{port}"
        self.commands = banner_blocks(banner)
        self.jwt_secret = self._printed(r"GATEWAY_JWT_SECRET=(\S+)")
        self.app_secret = self._printed(r"GATEWAY_NIM_APP_SECRET=(\S+)")

    def _printed(self, pattern: str) -> str:
        for line in self.banner:
            if found := re.search(pattern, line):
                return found.group(1)
        raise AssertionError(f"the banner has no {pattern}:\n" + "\n".join(self.banner))

    def command(self, needle: str) -> list[str]:
        return block_with(self.commands, needle)

    def query(self, token: str, query: str) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/graphql", json={"query": query},
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def readme(self, lines: list[str]) -> list[str]:
        """README lines with what a reader fills in filled in."""
        return [
            line.replace("<jwt-secret>", self.jwt_secret)
            .replace("<app-secret>", self.app_secret)
            .replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
            for line in lines
        ]


@pytest.fixture(scope="module")
def demo(checkout: Checkout) -> Iterator[Demo]:
    quick_start = sh_blocks(checkout.root / "README.md")[0]
    make_demo = [line for line in quick_start if line.startswith("make demo")]
    assert make_demo == ["make demo"], quick_start
    port = free_tcp_port()
    started = time.monotonic()
    process = checkout.start(make_demo, GATEWAY_PORT=str(port))
    try:
        # A fresh install: pip's cache makes it quick, the registry's index is still asked.
        process.wait_for("Application startup complete", timeout=420)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        yield Demo(process, port, process.output, time.monotonic() - started)
    finally:
        process.stop()


def outcome(printed: str) -> str:
    answer: dict[str, str] = orjson.loads(printed)
    return answer["outcome"]


def test_the_banners_token_command_gives_a_token_the_demo_accepts(
    checkout: Checkout, demo: Demo
) -> None:
    token = checkout.shell(demo.command(" token ")).strip()
    data = demo.query(token, "{ sessions(first: 1) { totalCount } }")
    assert data["sessions"]["totalCount"] > 0


def test_the_banners_query_answers(checkout: Checkout, demo: Demo) -> None:
    answer = orjson.loads(checkout.shell(demo.command("/graphql")))
    assert "errors" not in answer, answer
    assert len(answer["data"]["sessions"]["edges"]) == 2


def test_the_banners_webhook_applies_a_new_message_each_time(
    checkout: Checkout, demo: Demo
) -> None:
    webhook = demo.command("/nim/cc")
    bob = checkout.shell(demo.command(" token ")).strip()
    seen = []
    for _ in range(2):
        assert outcome(checkout.shell(webhook)) == "applied"
        data = demo.query(bob, '{ session(id: "p2p|alice") { lastMessage { serverId from } } }')
        seen.append(data["session"]["lastMessage"])
    assert seen[0]["from"] == seen[1]["from"] == "alice"
    assert seen[0]["serverId"] != seen[1]["serverId"]


def test_the_readmes_webhook_lines_apply_a_new_message_each_time(
    checkout: Checkout, demo: Demo
) -> None:
    webhook = demo.readme(block_with(sh_blocks(checkout.root / "README.md"), "/nim/cc"))
    assert [outcome(checkout.shell(webhook)) for _ in range(2)] == ["applied", "applied"]


def test_the_readmes_curl_query_with_a_gateway_token(checkout: Checkout, demo: Demo) -> None:
    lines = demo.readme(block_with(sh_blocks(checkout.root / "README.md"), "$TOKEN"))
    answer = orjson.loads(checkout.shell(lines))
    assert "errors" not in answer, answer
    assert answer["data"]["sessions"]["totalCount"] > 100  # alice's demo list


def test_the_readmes_cc_walkthrough(checkout: Checkout, demo: Demo) -> None:
    lines = demo.readme(block_with(sh_blocks(checkout.root / "README.md"), "cc_walkthrough.py"))
    printed = checkout.shell(lines)
    verdicts = [line.split()[0] for line in printed.splitlines() if ": {" in line]
    assert verdicts == ["ok", "ok", "ok"], printed


def test_the_web_examples_commands_serve_the_app(checkout: Checkout, demo: Demo) -> None:
    require(shutil.which("npm") is not None, "npm is needed for examples/web")
    commands = block_with(sh_blocks(checkout.root / "README.md"), "npm run dev")
    web_readme = sh_blocks(checkout.root / "examples" / "web" / "README.md")
    assert commands == block_with(web_readme, "npm run dev")  # one way, told the same in both
    port = free_tcp_port()
    web = checkout.start(commands, WEB_PORT=str(port), GATEWAY_URL=demo.url)
    try:
        app = f"http://127.0.0.1:{port}"
        page = _when_served(web, f"{app}/", deadline_s=420)
        assert '<div id="root">' in page
        for module in ("/src/main.tsx", "/src/client.ts"):
            assert httpx.get(app + module, timeout=30).status_code == 200, module
        token = checkout.shell(demo.command(" token ")).strip()
        through_the_proxy = httpx.post(
            f"{app}/graphql", json={"query": "{ totalUnreadCount }"},
            headers={"Authorization": f"Bearer {token}"}, timeout=30,
        )  # fmt: skip
        assert "totalUnreadCount" in through_the_proxy.json()["data"]
    finally:
        web.stop()


def _when_served(process: Process, url: str, deadline_s: float) -> str:
    """The page at ``url`` once it answers 200; fails when the process ends or time runs out."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert process.proc.poll() is None, "\n".join(process.output + process.drain())
        try:
            response = httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.5)
            continue
        if response.status_code == 200:
            return response.text
        time.sleep(0.5)
    raise AssertionError(f"{url} not served within {deadline_s}s:\n" + "\n".join(process.drain()))


# What `make test` and `make bench` add, and `make demo` must not install.
TEST_AND_BENCH_PACKAGES = {
    "pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "ruff", "mypy", "playwright",
    "matplotlib", "opentelemetry-sdk", "opentelemetry-api",  # (PyYAML comes with uvicorn)
}  # fmt: skip


def test_make_demo_installs_the_runtime_only_and_answers(checkout: Checkout, demo: Demo) -> None:
    listed = checkout.shell([".venv/bin/python -m pip list --format=json"])
    installed = {entry["name"].lower() for entry in orjson.loads(listed)}
    assert "session-gateway" in installed
    assert not installed & TEST_AND_BENCH_PACKAGES
    print(f"make demo on a fresh copy: first answer after {demo.took_s:.0f} s")
    readme = " ".join((checkout.root / "README.md").read_text().split())
    assert re.search(r"answered its first request \*\*\d+ s\*\*", readme)


def test_gateway_version(checkout: Checkout, demo: Demo) -> None:
    printed = checkout.shell([".venv/bin/gateway --version"])
    assert printed.startswith("gateway, version ")


def test_a_taken_port_says_how_to_move_the_demo(checkout: Checkout, demo: Demo) -> None:
    again = subprocess.run(
        ["make", "demo"], cwd=checkout.root, env={**checkout.env, "GATEWAY_PORT": str(demo.port)},
        capture_output=True, text=True, timeout=SHELL_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert again.returncode != 0
    assert "GATEWAY_PORT=8021 make demo" in again.stderr
    assert "GATEWAY_PORT=8021 make demo" in (checkout.root / "README.md").read_text()


def test_gateway_sign_without_a_secret_says_where_it_comes_from(
    checkout: Checkout, demo: Demo
) -> None:
    done = subprocess.run([".venv/bin/gateway", "sign", "{}"], cwd=checkout.root,
                          env=checkout.env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode != 0
    assert "GATEWAY_NIM_APP_SECRET" in done.stderr
    assert "--demo" in done.stderr


def test_a_cors_refusal_names_the_setting(demo: Demo) -> None:
    origin = "http://localhost:3000"
    preflight = httpx.options(
        f"{demo.url}/graphql", timeout=10,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )  # fmt: skip
    assert preflight.status_code == 400
    assert f"GATEWAY_ALLOWED_ORIGINS={origin}" in preflight.text
    logged = demo.process.wait_for("GATEWAY_ALLOWED_ORIGINS")
    assert origin in logged


def test_the_api_guides_first_lines_run_as_printed(checkout: Checkout, demo: Demo) -> None:
    [first] = [s for s in docs.steps(checkout.root / "docs" / "api.md", checkout.root)
               if isinstance(s, docs.Shell)][:1]  # fmt: skip
    printed = checkout.shell(demo.readme(first.lines))
    assert docs.mismatch(first.sample, orjson.loads(printed)) is None, printed


def test_clients_export_the_cache_schema_the_web_example_uses(
    checkout: Checkout, demo: Demo
) -> None:
    clients = checkout.root / "clients"
    possible = orjson.loads((clients / "possibleTypes.json").read_bytes())["possibleTypes"]
    assert "SessionsDeleted" in possible["SessionEvent"]
    assert orjson.loads((clients / "introspection.json").read_bytes())["__schema"]["types"]
    client = (checkout.root / "examples" / "web" / "src" / "client.ts").read_text()
    assert "clients/introspection.json" in client
    assert "cacheExchange(" in client


def test_an_identity_providers_rotating_keys_sign_in_on_the_runtime_install(
    checkout: Checkout, demo: Demo, tmp_path: Path
) -> None:
    idp = Provider()
    idp.publish("key-1")
    port = free_tcp_port()
    with serving(idp) as url:
        env = {"GATEWAY_JWT_JWKS_URL": url, "GATEWAY_JWT_ISSUER": ISSUER,
               "GATEWAY_CURSOR_SECRET": "c" * 32, "GATEWAY_JWT_JWKS_MIN_REFRESH_S": "0",
               "GATEWAY_JWT_ACCOUNT_CLAIM": "https://example.com/claims.chat_account"}  # fmt: skip
        server = checkout.start([f".venv/bin/gateway serve --db {tmp_path / 'gw.db'} "
                                 f"--port {port}"], **env)  # fmt: skip
        try:
            server.wait_for("Application startup complete")
            idp.new_key("key-2", kind="EC")
            idp.publish("key-2")  # rotated after the gateway fetched key-1
            claims = {"https://example.com/claims": {"chat_account": "carol"}}
            token = idp.token("key-2", sub="auth0|65f0c2", **claims)
            answer = httpx.post(f"http://127.0.0.1:{port}/graphql", timeout=10,
                                json={"query": "{ totalUnreadCount }"},
                                headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
            assert answer == {"data": {"totalUnreadCount": 0}}
        finally:
            server.stop()


def test_graphiql_after_pip_install_heals_in_the_browser_without_a_restart(
    checkout: Checkout, tmp_path: Path
) -> None:
    require(shutil.which("npm") is not None, "npm is needed for gateway install-graphiql")
    browser_path = chromium()
    venv = tmp_path / "venv"
    checkout.shell([f"python3 -m venv {venv}",
                    f"{venv}/bin/pip install --quiet {checkout.root}"])  # fmt: skip
    assets = tmp_path / "graphiql"  # none yet: a machine that never ran install-graphiql
    env = {"GATEWAY_JWT_SECRET": "s" * 32, "GATEWAY_GRAPHIQL_DIR": str(assets)}
    port = free_tcp_port()
    server = checkout.start([f"{venv}/bin/gateway serve --db {tmp_path / 'gw.db'} --port {port}"],
                            **env)  # fmt: skip
    try:
        server.wait_for("Application startup complete")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=browser_path,
                                                 args=CHROMIUM_ARGS)  # fmt: skip
            page = browser.new_page()
            page.route("https://unpkg.com/**", lambda route: route.abort())  # offline
            page.goto(f"http://127.0.0.1:{port}/graphql")
            notice = page.locator("#graphiql-missing")
            expect(notice).to_contain_text("gateway install-graphiql", timeout=20_000)
            expect(page.get_by_text("Loading...")).to_have_count(0)
            page.screenshot(path=str(screenshot_path("graphiql-assets-missing")))
            installed = checkout.shell([f"{venv}/bin/gateway install-graphiql"], **env)
            assert f"installed in {assets}" in installed
            page.reload()
            expect(page.get_by_test_id("graphiql-container")).to_be_visible(timeout=30_000)
            expect(page.locator(".graphiql-query-editor")).to_be_visible()
            page.screenshot(path=str(screenshot_path("graphiql-after-install")))
            browser.close()
        assert server.proc.poll() is None  # the same server, never restarted
    finally:
        server.stop()
