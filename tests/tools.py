"""Outside tools some tests drive (npm projects, Chromium): where they are, and what happens when
they are not there.

On a developer's machine a missing tool skips its tests with a hint. `.ci/run` installs every tool
and sets GATEWAY_TEST_STRICT=1, so there a missing tool fails the run instead of skipping quietly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRICT = os.environ.get("GATEWAY_TEST_STRICT") == "1"
ARTIFACTS = Path(os.environ.get("GATEWAY_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def require(present: bool, hint: str) -> None:
    if present:
        return
    if STRICT:
        pytest.fail(f"{hint} (GATEWAY_TEST_STRICT=1: .ci/run installs every tool)")
    pytest.skip(hint)


def npm_project(relative: str) -> Path:
    """An npm project of this repository, its packages installed (`make install` does it)."""
    project = ROOT / relative
    require(
        (project / "node_modules" / ".package-lock.json").is_file(),
        f"npm packages of {relative} are not installed: run `make install`",
    )
    return project


def npm(project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`npm run ...` (or any npm command) in ``project``; output captured for assertions."""
    return subprocess.run(
        ["npm", "--silent", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def chromium() -> str:
    """Debian's Chromium (Playwright cannot download its own browser here)."""
    path = os.environ.get("GATEWAY_TEST_CHROMIUM") or shutil.which("chromium") or ""
    require(bool(path), "Chromium is not installed: apt-get install chromium")
    return path


CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]  # fmt: skip


def screenshot_path(name: str) -> Path:
    directory = ARTIFACTS / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{name}.png"


def newcomer_environment() -> dict[str, str]:
    """This environment as a newcomer's shell has it: no gateway settings, `gateway` not on the
    PATH (as in a `make demo` checkout), and none of make's own variables (under `make test`
    they would make every make run from a test a sub-make)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATEWAY_", "VIRTUAL_ENV", "MAKE", "MFLAGS"))}  # fmt: skip
    paths = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(p for p in paths if not (Path(p) / "gateway").exists())
    env["PYTHONUNBUFFERED"] = "1"
    return env
