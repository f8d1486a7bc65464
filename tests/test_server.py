"""The real thing: `gateway serve --demo` under uvicorn, queried over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.process import gateway

FIRST_PAGE = """{ sessions(first: 2) {
  totalCount
  edges { node { key updateTime lastMessageKind lastMessage { text type } } }
  pageInfo { endCursor hasNextPage }
} }"""
NEXT_PAGE = """query($after: String) { sessions(first: 2, after: $after) {
  edges { node { key updateTime } } } }"""


def test_the_demo_gateway_serves_sessions_over_http(tmp_path: Path, free_port: int) -> None:
    db = tmp_path / "demo.db"
    with gateway("serve", "--demo", "--db", str(db), "--port", str(free_port),
                 env={"GATEWAY_JWT_SECRET": ""}) as server:  # fmt: skip
        server.wait_for("Token for alice")
        token = server.next_line().strip()
        server.wait_for("Application startup complete")
        url = f"http://127.0.0.1:{free_port}"
        headers = {"Authorization": f"Bearer {token}"}

        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        first = httpx.post(f"{url}/graphql", json={"query": FIRST_PAGE}, headers=headers).json()
        page = first["data"]["sessions"]
        assert page["totalCount"] > 100
        assert len(page["edges"]) == 2
        assert all(edge["node"]["lastMessageKind"] for edge in page["edges"])
        assert page["pageInfo"]["hasNextPage"] is True

        body = {"query": NEXT_PAGE, "variables": {"after": page["pageInfo"]["endCursor"]}}
        second = httpx.post(f"{url}/graphql", json=body, headers=headers).json()
        newest_second = second["data"]["sessions"]["edges"][0]["node"]
        oldest_first = page["edges"][-1]["node"]
        assert newest_second["key"] != oldest_first["key"]
        assert newest_second["updateTime"] <= oldest_first["updateTime"]


def test_serving_without_a_token_key_is_a_start_up_error(tmp_path: Path, free_port: int) -> None:
    with gateway("serve", "--db", str(tmp_path / "x.db"), "--port", str(free_port),
                 env={"GATEWAY_JWT_SECRET": ""}) as server:  # fmt: skip
        server.wait_for("GATEWAY_JWT_SECRET")
        assert server.proc.wait(timeout=10) != 0
