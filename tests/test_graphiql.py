"""GraphiQL works without internet: its pinned assets come from the gateway itself."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

import httpx

from gateway import graphiql
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.tools import require

INSTALLED = Path(".graphiql")  # where `make` (gateway install-graphiql) puts them


def client(
    settings: Settings, store: SessionStore, clock: Clock, **overrides: object
) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update=overrides), store=store, clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def test_the_page_and_every_asset_come_from_the_gateway(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    require(graphiql.installed(INSTALLED), "run `gateway install-graphiql` (make install does)")
    async with client(settings, store, clock, graphiql_dir=str(INSTALLED)) as http:
        page = (await http.get("/graphql", headers={"Accept": "text/html"})).text
        assert "unpkg.com" not in page
        for asset, integrity in graphiql.assets().items():
            assert f"/graphiql/assets/{asset}" in page
            response = await http.get(f"/graphiql/assets/{asset}")
            assert response.status_code == 200
            algorithm, _, expected = integrity.partition("-")
            digest = hashlib.new(algorithm, response.content).digest()
            assert base64.b64encode(digest).decode() == expected  # the browser's SRI check
        assert (await http.get("/graphiql/assets/../pyproject.toml")).status_code == 404


async def test_without_local_assets_the_cdn_page_or_a_hint(
    settings: Settings, store: SessionStore, clock: Clock, tmp_path: Path
) -> None:
    async with client(settings, store, clock, graphiql_dir=str(tmp_path)) as http:
        cdn = (await http.get("/graphql", headers={"Accept": "text/html"})).text
    async with client(
        settings, store, clock, graphiql_dir=str(tmp_path), graphiql_cdn=False
    ) as http:
        hint = (await http.get("/graphql", headers={"Accept": "text/html"})).text
    assert "unpkg.com" in cdn
    assert "gateway install-graphiql" in hint


def test_install_keeps_only_the_pinned_files_and_they_check_out(tmp_path: Path) -> None:
    require(shutil.which("npm") is not None, "npm is needed to install GraphiQL's assets")
    graphiql.install(tmp_path)
    files = {path for path in tmp_path.rglob("*") if path.is_file()}
    assert files == {graphiql.asset_path(tmp_path, asset) for asset in graphiql.assets()}
    assert graphiql.installed(tmp_path)
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert total < 10_000_000  # a few MB of scripts and styles, not npm's whole packages
