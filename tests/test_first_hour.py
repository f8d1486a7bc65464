"""A newcomer's first hour, as printed: the README's shell lines and the lines the demo banner
prints, run as they are (taken from README.md and from the banner, never retyped here) in a
scratch copy of the repository, against the demo `make demo` starts there.

Only what a reader must fill in is filled in: the `<jwt-secret>` and `<app-secret>` placeholders
(the banner prints both), and the port: the demo listens on a free one (GATEWAY_PORT) rather than
:8000, so the README's `127.0.0.1:8000` becomes that port. `gateway` itself is not on the PATH,
as on a fresh machine.
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

from tests.process import Process, free_tcp_port
from tests.tools import ROOT, newcomer_environment, require

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
    require((ROOT / ".venv" / "bin" / "gateway").exists(), "run `make install` first")
    root = tmp_path_factory.mktemp("first-hour") / "session-gateway"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # not a file deleted in the working tree
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)  # times kept: make sees the .venv as up to date
    (root / ".venv").symlink_to(ROOT / ".venv")
    return Checkout(root)


class Demo:
    def __init__(self, process: Process, port: int, banner: list[str]) -> None:
        self.process = process
        self.port = port
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
    # The copy shares this checkout's .venv: make must find it up to date, or it would rebuild
    # it from the copy (an editable install pointing into a scratch directory).
    dry_run = subprocess.run(["make", "-n", "demo"], cwd=checkout.root, env=checkout.env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    planned = dry_run.stdout.splitlines()
    require(len(planned) == 1, f"run `make install`: make would first run {planned[:-1]}")
    port = free_tcp_port()
    process = checkout.start(make_demo, GATEWAY_PORT=str(port))
    try:
        process.wait_for("Application startup complete", timeout=180)
        yield Demo(process, port, process.output)
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
