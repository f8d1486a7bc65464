"""GraphiQL without internet: the page's pinned assets, installed from the npm registry and served
by the gateway itself; the public CDN only where no local copy was installed.

    gateway install-graphiql        # npm install + integrity check, once per user and machine

The server looks for them on each page load, so assets installed while it runs are used from the
next reload on. Without them the page says what to do, instead of "Loading..." forever.

They go in a per-user data directory (``$XDG_DATA_HOME/session-gateway/`` on Linux), shared by
every checkout and working directory, in a folder named for the pinned versions, so a Strawberry
upgrade that pins other versions installs beside the old ones instead of mixing with them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import platformdirs
from strawberry.http.ides import get_graphql_ide_html

CDN = "https://unpkg.com/"
LOCAL = "/graphiql/assets/"
_ASSET = re.compile(r'(?:src|href)="https://unpkg\.com/([^"]+)"\s+integrity="([^"]+)"')


@functools.cache
def cdn_page() -> str:
    return get_graphql_ide_html("graphiql")


@functools.cache
def assets() -> dict[str, str]:
    """Each asset the page loads (``package@version/path``) and its SRI hash."""
    return dict(_ASSET.findall(cdn_page()))


@functools.cache
def local_page() -> str:
    return cdn_page().replace(CDN, LOCAL)


INSTALL_HINT = (
    "On the gateway's machine run <code>gateway install-graphiql</code> (in a "
    "<code>make demo</code> checkout: <code>.venv/bin/gateway install-graphiql</code>), then "
    "reload this page: the gateway finds them without a restart."
)


def missing_page(directory: Path) -> str:
    """The page when there are no local assets and the CDN is not to be used."""
    return _notice_page(
        f"GraphiQL's assets are not installed in {html.escape(str(directory))} and this gateway "
        f"does not load them from the public CDN (GATEWAY_GRAPHIQL_CDN=false). {INSTALL_HINT}"
    )


def cdn_page_with_fallback(directory: Path) -> str:
    """The CDN page, which says what to do when its scripts cannot be loaded (offline)."""
    notice = (
        f"GraphiQL could not load its scripts from the public CDN ({CDN}), and there is no copy "
        f"of them in {html.escape(str(directory))}. {INSTALL_HINT}"
    )
    fallback = (
        "<script>window.addEventListener('load', function () {"
        " if (window.GraphiQL && window.React) return;"
        f" document.body.style.overflow = 'auto'; document.body.innerHTML = {_js(notice)}; }});"
        "</script>"
    )
    page = cdn_page()
    at = page.rindex("</body>")
    return page[:at] + fallback + page[at:]


def _notice_page(text: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>GraphiQL</title></head><body>'
        + _notice(text)
        + "</body></html>"
    )


def _notice(text: str) -> str:
    return (
        '<div id="graphiql-missing" style="font: 16px/1.5 sans-serif; max-width: 40em; '
        f'margin: 3em auto"><h1>GraphiQL needs its assets</h1><p>{text}</p></div>'
    )


def _js(notice: str) -> str:
    # A JS string literal of the notice's HTML: no quote or "</script>" can end it early.
    return json.dumps(_notice(notice)).replace("<", "\\u003c")


class Page:
    """The GraphiQL page for a browser, chosen on each load: the local assets from the moment
    they are installed (no restart), else the CDN page, or a page that says what to do."""

    def __init__(self, directory: Path, *, cdn: bool) -> None:
        self.directory = directory
        self._cdn = cdn
        self._found = False

    def html(self) -> str:
        if self._found or installed(self.directory):
            self._found = True  # a few stat calls per load until then; none after
            return local_page()
        return cdn_page_with_fallback(self.directory) if self._cdn else missing_page(self.directory)

    def notices(self) -> list[str]:
        """What to tell the operator as the server starts."""
        if installed(self.directory):
            return []
        missing = f"GraphiQL's assets are not installed in {self.directory}"
        fix = "gateway install-graphiql (no restart needed: the next page load uses them)"
        if self._cdn:
            return [
                f"{missing}: /graphql loads them from the public CDN (without internet the "
                f"page says what to do). Install them once for this machine: {fix}"
            ]
        return [f"{missing} and GATEWAY_GRAPHIQL_CDN=false: run {fix}"]


def default_dir() -> Path:
    pins = hashlib.sha256(" ".join(sorted(assets())).encode()).hexdigest()[:12]
    data = platformdirs.user_data_dir("session-gateway", appauthor=False)
    return Path(data) / f"graphiql-{pins}"


def directory(configured: str | None) -> Path:
    """Where the assets are: GATEWAY_GRAPHIQL_DIR when set, else the per-user default."""
    return Path(configured) if configured else default_dir()


def installed(directory: Path) -> bool:
    return all((directory / _file(asset)).is_file() for asset in assets())


def asset_path(directory: Path, asset: str) -> Path | None:
    if asset not in assets():
        return None  # only the pinned files, never anything else on disk
    return directory / _file(asset)


def install(directory: Path) -> bool:
    """npm-install the pinned packages and check every file against the page's SRI hash; False
    when they were there already. The files appear in ``directory`` all at once: a server
    starting meanwhile, or another checkout installing too, never sees half of them."""
    if installed(directory):
        return False
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise RuntimeError(f"{directory} is in the way: remove it, or choose another directory")
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install the GraphiQL assets")
    packages = sorted({_package(asset) for asset in assets()})
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        # The package names come from Strawberry's pinned page, not from input.
        command = [npm, "install", "--silent", "--no-audit", "--no-fund", "--ignore-scripts",
                   "--prefix", str(staging), *packages]  # fmt: skip
        subprocess.run(command, check=True)  # noqa: S603
        for asset, integrity in assets().items():
            algorithm, _, expected = integrity.partition("-")
            digest = hashlib.new(algorithm, (staging / _file(asset)).read_bytes()).digest()
            if base64.b64encode(digest).decode() != expected:
                raise RuntimeError(f"{asset} does not match its integrity hash {integrity}")
        _prune(staging)
        staging.chmod(0o755)  # mkdtemp's 0700 would hide them from a server run as another user
        try:
            staging.rename(directory)  # replaces an empty directory, never a full one
        except OSError:
            if not installed(directory):  # else another installer finished first: fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def _prune(directory: Path) -> None:
    """Keep the pinned files only: npm brings whole packages (~60 MB) for a few MB of assets."""
    keep = {directory / _file(asset) for asset in assets()}
    for path in sorted(directory.rglob("*"), reverse=True):  # files before their folders
        if path.is_file() or path.is_symlink():
            if path not in keep:
                path.unlink()
        elif not any(path.iterdir()):
            path.rmdir()


def _package(asset: str) -> str:
    scoped = asset.startswith("@")
    parts = asset.split("/")
    return "/".join(parts[:2]) if scoped else parts[0]


def _file(asset: str) -> str:
    package = _package(asset)
    name = package.rsplit("@", 1)[0]
    return f"node_modules/{name}/{asset[len(package) + 1 :]}"
