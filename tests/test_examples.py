"""The README's walkthroughs, run against a real gateway process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import APP_SECRET, SECRET
from tests.process import gateway

ROOT = Path(__file__).parent.parent


def test_the_cc_walkthrough_sees_p2p_team_and_recall(tmp_path: Path, free_port: int) -> None:
    env = {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_NIM_APP_SECRET": APP_SECRET}
    with gateway("serve", "--db", str(tmp_path / "gw.db"), "--port", str(free_port),
                 env=env) as server:  # fmt: skip
        server.wait_for("Application startup complete")
        script = [sys.executable, str(ROOT / "examples" / "cc_walkthrough.py"),
                  "--url", f"http://127.0.0.1:{free_port}",
                  "--app-secret", APP_SECRET, "--jwt-secret", SECRET]  # fmt: skip
        result = subprocess.run(script, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = [line.split()[0] for line in result.stdout.splitlines() if ": {" in line]
    assert verdicts == ["ok", "ok", "ok"], result.stdout
