"""GraphiQL without internet: the page's pinned assets, installed from the npm registry and served
by the gateway itself; the public CDN only where no local copy was installed.

    gateway install-graphiql        # npm install + integrity check, once per user and machine

They go in a per-user data directory (``$XDG_DATA_HOME/session-gateway/`` on Linux), shared by
every checkout and working directory, in a folder named for the pinned versions, so a Strawberry
upgrade that pins other versions installs beside the old ones instead of mixing with them.
"""

from __future__ import annotations

import base64
import hashlib
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


def cdn_page() -> str:
    return get_graphql_ide_html("graphiql")


def assets() -> dict[str, str]:
    """Each asset the page loads (``package@version/path``) and its SRI hash."""
    return dict(_ASSET.findall(cdn_page()))


def local_page() -> str:
    return cdn_page().replace(CDN, LOCAL)


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
