"""The benchmark command runs end to end (a short smoke run), so it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).parent.parent


@pytest.mark.skipif(
    not POSTGRES_URL, reason="the benchmark needs PostgreSQL (GATEWAY_TEST_POSTGRES_URL)"
)
@pytest.mark.timeout(660)  # past the command's own 600 s limit, so that one reports
def test_the_bench_command_writes_a_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path), "--beside", "HEAD"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        env={**__import__("os").environ, "GATEWAY_TEST_POSTGRES_URL": POSTGRES_URL},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    report = (tmp_path / "README.md").read_text()
    for workload in ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "LATE"):
        assert workload in report
    assert "floor" in report
    assert (tmp_path / "chart.png").stat().st_size > 1000
    figures = json.loads((tmp_path / "results.json").read_text())
    assert {"W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "LATE"} <= set(figures)
    assert figures["W7"]["sqlite_2000"]["gateway_rate"] > 0
    # --beside: W1 of the gateway of that commit too, from a worktree removed afterwards.
    assert figures["W1"]["sqlite_beside_64"]["non_2xx"] == 0
    assert "vs the gateway of" in report
    # CPU per request, each server's own, for both backends (bench/cpu.py).
    for backend in ("sqlite", "postgres"):
        cpu = figures["W1"][f"{backend}_cpu"]
        assert set(cpu) == {"gateway", "hand", "beside", "gateway_edge", "hand_edge"}
        assert all(run["cpu_us_per_request"] > 0 for run in cpu.values())
    assert "CPU per request vs hand-written floor" in report
    assert figures["W8"]["honest_attacked"]["failed"] == 0
    assert figures["W9"]["sqlite_group"]["non_2xx"] == 0
    assert figures["W6"]["gateway"]["kib_per_socket"] > 0 < figures["W6"]["bare"]["kib_per_socket"]
    assert set(figures["LATE"]) == {"sqlite", "postgres"}
    assert figures["W4"]["team"]["events"] == figures["W4"]["team"]["expected"]
