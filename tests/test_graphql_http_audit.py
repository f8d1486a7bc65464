"""graphql-http's GraphQL-over-HTTP server audits (the npm package `graphql-http`, in clients/)
against a real `gateway serve`: every audit ok, no warning."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.helpers import SECRET
from tests.process import gateway
from tests.tools import npm_project, require


def test_the_gateway_passes_graphql_https_server_audits(tmp_path: Path, free_port: int) -> None:
    clients = npm_project("clients")
    node = shutil.which("node")
    require(node is not None, "Node.js is not installed: graphql-http's audits run on it")
    assert node is not None
    env = {"GATEWAY_JWT_SECRET": SECRET,
           # The audits are some 60 anonymous requests from one address.
           "GATEWAY_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "0"}  # fmt: skip
    with gateway("serve", "--db", str(tmp_path / "audit.db"), "--port", str(free_port),
                 env=env) as server:  # fmt: skip
        server.wait_for("Application startup complete")
        run = subprocess.run(
            [node, "graphql-http-audit.mjs", f"http://127.0.0.1:{free_port}/graphql"],
            cwd=clients, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(results) > 50  # the whole list ran (61 audits in graphql-http 1.23)
    assert [r for r in results if r["status"] != "ok"] == []
