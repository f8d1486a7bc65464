"""GraphiQL works without internet: its pinned assets come from the gateway itself, installed once
per user and machine; without them the server says so, once, as it starts."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

import httpx
import pytest

from gateway import graphiql
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.helpers import SECRET
from tests.process import gateway
from tests.tools import require

INSTALLED = graphiql.default_dir()  # where `make` (gateway install-graphiql) puts them


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


async def test_assets_installed_while_serving_are_used_on_the_next_load(
    settings: Settings, store: SessionStore, clock: Clock, tmp_path: Path
) -> None:
    require(graphiql.installed(INSTALLED), "run `gateway install-graphiql` (make install does)")
    target = tmp_path / "graphiql"
    async with client(settings, store, clock, graphiql_dir=str(target)) as http:
        before = (await http.get("/graphql", headers={"Accept": "text/html"})).text
        shutil.copytree(INSTALLED, target)  # as `gateway install-graphiql` would, all at once
        after = (await http.get("/graphql", headers={"Accept": "text/html"})).text
        [asset] = [a for a in graphiql.assets() if a.endswith("graphiql.min.js")]
        assert (await http.get(f"/graphiql/assets/{asset}")).status_code == 200
    assert "unpkg.com" in before
    assert "unpkg.com" not in after
    assert f"/graphiql/assets/{asset}" in after


async def test_the_cdn_page_says_what_to_do_when_its_scripts_do_not_load(
    settings: Settings, store: SessionStore, clock: Clock, tmp_path: Path
) -> None:
    async with client(settings, store, clock, graphiql_dir=str(tmp_path)) as http:
        page = (await http.get("/graphql", headers={"Accept": "text/html"})).text
    fallback = page[page.rindex("<script>") :]
    assert "window.GraphiQL" in fallback
    assert "gateway install-graphiql" in fallback
    assert "without a restart" in fallback
    assert "</script>" not in fallback[: fallback.rindex("</script>")]  # the notice cannot end it


def test_install_keeps_only_the_pinned_files_and_they_check_out(tmp_path: Path) -> None:
    require(shutil.which("npm") is not None, "npm is needed to install GraphiQL's assets")
    graphiql.install(tmp_path)
    files = {path for path in tmp_path.rglob("*") if path.is_file()}
    assert files == {graphiql.asset_path(tmp_path, asset) for asset in graphiql.assets()}
    assert graphiql.installed(tmp_path)
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert total < 10_000_000  # a few MB of scripts and styles, not npm's whole packages


def test_the_assets_are_installed_per_user_not_per_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    first = graphiql.default_dir()
    monkeypatch.chdir(Path(__file__).parent)
    assert graphiql.default_dir() == first  # the same from any working directory
    assert first.is_relative_to(tmp_path / "data" / "session-gateway")
    assert graphiql.directory("/srv/graphiql") == Path("/srv/graphiql")  # GATEWAY_GRAPHIQL_DIR
    assert graphiql.directory(None) == first


def test_a_second_install_finds_them_there(tmp_path: Path) -> None:
    require(shutil.which("npm") is not None, "npm is needed to install GraphiQL's assets")
    target = tmp_path / "graphiql"
    assert graphiql.install(target)
    assert not graphiql.install(target)  # no npm run, nothing changed
    assert graphiql.installed(target)


def test_a_directory_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError, match=str(tmp_path)):
        graphiql.install(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("cdn", [True, False])
def test_without_assets_the_server_says_so_once_as_it_starts(
    tmp_path: Path, free_port: int, cdn: bool
) -> None:
    empty = tmp_path / "no-assets"
    env = {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_GRAPHIQL_DIR": str(empty),
           "GATEWAY_GRAPHIQL_CDN": str(cdn).lower()}  # fmt: skip
    with gateway("serve", "--db", str(tmp_path / "gw.db"), "--port", str(free_port),
                 env=env) as server:  # fmt: skip
        server.wait_for("Application startup complete")
        for _ in range(2):
            page = httpx.get(f"http://127.0.0.1:{free_port}/graphql",
                             headers={"Accept": "text/html"}, timeout=10)  # fmt: skip
            assert page.status_code == 200
        server.stop()
        server.wait_for_end()
    said = [line for line in server.output if "install-graphiql" in line]
    assert len(said) == 1, server.output
    assert str(empty) in said[0]
    assert ("public CDN" in said[0]) is cdn
