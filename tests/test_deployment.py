"""The shipped deployment: deploy/nginx.conf in front of two gateway replicas on PostgreSQL, as
compose.yaml runs them (here as processes, since this machine has no container engine)."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import POSTGRES_URL, sync_postgres_schema
from tests.helpers import APP_SECRET, SECRET, bearer_token, cc_message, post_signed
from tests.process import free_tcp_port, gateway
from tests.tools import ROOT, require
from tests.ws import GraphQLSocket

NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def test_compose_runs_two_replicas_of_the_image_on_postgres_behind_the_proxy() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    upstreams = re.findall(r"server (\S+):8000", NGINX_CONF.read_text())
    assert upstreams == ["gateway-a", "gateway-b"]  # nginx balances across both services
    for name in upstreams:
        replica = services[name]
        assert replica["build"] == "."
        assert replica["environment"]["GATEWAY_DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in replica["environment"]["GATEWAY_DATABASE_URL"]
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    proxy = services["proxy"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert proxy["ports"] == ["8080:8080"]
    assert "listen 8080;" in NGINX_CONF.read_text()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    """The proxy's URL and the two replicas' ports."""
    require(bool(POSTGRES_URL), "replicas need PostgreSQL: set GATEWAY_TEST_POSTGRES_URL")
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    require(bool(nginx), "nginx is not installed: apt-get install nginx-light")
    with sync_postgres_schema(POSTGRES_URL) as url:
        env = {"GATEWAY_DATABASE_URL": url, "GATEWAY_JWT_SECRET": SECRET,
               "GATEWAY_NIM_APP_SECRET": APP_SECRET, "GATEWAY_LOG_FORMAT": "text"}  # fmt: skip
        ports = [free_tcp_port(), free_tcp_port()]
        with (
            gateway("serve", "--port", str(ports[0]), env=env) as a,
            gateway("serve", "--port", str(ports[1]), env=env) as b,
        ):
            a.wait_for("Uvicorn running")
            b.wait_for("Uvicorn running")
            with run_nginx(nginx, ports, tmp_path_factory.mktemp("nginx")) as proxy:
                yield proxy, ports


@contextmanager
def run_nginx(
    nginx: str, ports: list[int], prefix: Path, edits: tuple[tuple[str, str], ...] = ()
) -> Iterator[str]:
    """deploy/nginx.conf as shipped, but for the replicas' and the proxy's local ports (and
    the ``edits``, each of which must apply)."""
    listen = free_tcp_port()
    conf = NGINX_CONF.read_text()
    for shipped, edited in edits:
        assert shipped in conf, f"deploy/nginx.conf has no {shipped!r}"
        conf = conf.replace(shipped, edited)
    conf = conf.replace("server gateway-a:8000", f"server 127.0.0.1:{ports[0]}")
    conf = conf.replace("server gateway-b:8000", f"server 127.0.0.1:{ports[1]}")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    (prefix / "nginx.conf").write_text(conf)
    process = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
         "-g", f"daemon off; pid {prefix / 'nginx.pid'};"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{listen}"
    try:
        wait_until_up(process, url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_until_up(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {process.communicate()[0]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("nginx did not answer within 10 s")


def operations_served(port: int) -> float:
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    counts = re.findall(r"^gateway_graphql_operation_seconds_count\{.*\} (\S+)$", metrics, re.M)
    return sum(float(count) for count in counts)


async def test_through_the_proxy_requests_reach_both_replicas_and_subscriptions_stay_live(
    proxied: tuple[str, list[int]],
) -> None:
    url, ports = proxied
    alice, bob = f"px-{uuid.uuid4().hex[:8]}", f"py-{uuid.uuid4().hex[:8]}"
    ws_url = url.replace("http", "ws") + "/graphql"
    socket = await GraphQLSocket.connect(ws_url, bearer_token(alice))  # upgraded through nginx
    await socket.subscribe(
        "subscription { sessionEvents { ... on SessionUpserted { session { key lastMessage "
        "{ text } } } } }"
    )
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        now = int(time.time() * 1000)
        message = cc_message(f"m-{alice}", bob, alice, now, text="via nginx")
        webhook = await post_signed(http, "/nim/cc", message, now)
        assert webhook.json()["outcome"] == "applied"

        event = (await socket.next_data(wait=10))["sessionEvents"]["session"]
        assert event == {"key": f"p2p|{bob}", "lastMessage": {"text": "via nginx"}}

        query = {"query": "{ totalUnreadCount }"}
        auth = {"Authorization": f"Bearer {bearer_token(alice)}", "X-Request-ID": "through-nginx"}
        for _ in range(10):
            answer = await http.post("/graphql", json=query, headers=auth)
            assert answer.json() == {"data": {"totalUnreadCount": 1}}
            assert answer.headers["x-request-id"] == "through-nginx"  # the caller's id, kept
    await socket.close()
    # The subscription is counted on its replica once its close is handled there: wait for that,
    # with a deadline that fails.
    deadline = time.monotonic() + 10
    while not all(operations_served(port) > 0 for port in ports):
        assert time.monotonic() < deadline, "one replica got nothing"
        await asyncio.sleep(0.05)
