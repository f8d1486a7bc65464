"""GraphiQL without internet: the page's pinned assets, installed from the npm registry and served
by the gateway itself; the public CDN only where no local copy was installed.

    gateway install-graphiql        # npm install + integrity check, into GATEWAY_GRAPHIQL_DIR
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from strawberry.http.ides import get_graphql_ide_html

CDN = "https://unpkg.com/"
LOCAL = "/graphiql/assets/"
_ASSET = re.compile(r'(?:src|href)="https://unpkg\.com/([^"]+)"\s+integrity="([^"]+)"')


def cdn_page() -> str:
    return get_graphql_ide_html("graphiql")


def assets() -> dict[str, str]:
    """Each asset the page loads (``package@version/path``) and its SRI hash."""
    return dict(_ASSET.findall(cdn_page()))


def local_page() -> str:
    return cdn_page().replace(CDN, LOCAL)


def installed(directory: Path) -> bool:
    return all((directory / _file(asset)).is_file() for asset in assets())


def asset_path(directory: Path, asset: str) -> Path | None:
    if asset not in assets():
        return None  # only the pinned files, never anything else on disk
    return directory / _file(asset)


def install(directory: Path) -> None:
    """npm-install the pinned packages and check every file against the page's SRI hash."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install the GraphiQL assets")
    packages = sorted({_package(asset) for asset in assets()})
    directory.mkdir(parents=True, exist_ok=True)
    # The package names come from Strawberry's pinned page, not from input.
    command = [npm, "install", "--silent", "--no-audit", "--no-fund", "--ignore-scripts",
               "--prefix", str(directory), *packages]  # fmt: skip
    subprocess.run(command, check=True)  # noqa: S603
    for asset, integrity in assets().items():
        algorithm, _, expected = integrity.partition("-")
        digest = hashlib.new(algorithm, (directory / _file(asset)).read_bytes()).digest()
        if base64.b64encode(digest).decode() != expected:
            raise RuntimeError(f"{asset} does not match its integrity hash {integrity}")
    _prune(directory)


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
