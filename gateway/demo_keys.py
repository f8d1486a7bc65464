"""The demo's keys: a JWT secret and a NIM app secret made for ``gateway serve --demo`` where the
environment sets none, kept in a file next to its SQLite database so that tokens and signed
webhooks stay valid when the demo restarts (a PostgreSQL or in-memory demo keeps them for the run).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import orjson
from pydantic import SecretStr

from gateway.errors import ConfigurationError
from gateway.settings import Settings

SUFFIX = ".demo-keys"
DEMO_DATABASE = "gateway-demo.db"  # what `make demo` serves, in the checkout's root


@dataclass(frozen=True)
class DemoKeys:
    jwt_secret: str
    nim_app_secret: str
    file: Path | None  # where they are kept; None: for this run only
    kept: bool  # already in ``file``

    def applied(self, settings: Settings) -> Settings:
        """``settings`` with these keys where the environment sets none, and no rate limits (the
        demo is for trying things out)."""
        update: dict[str, object] = {
            "rate_limit_reads_per_minute": 0,
            "rate_limit_writes_per_minute": 0,
        }
        if settings.jwt_secret is None and settings.jwt_public_key is None:
            update["jwt_secret"] = SecretStr(self.jwt_secret)
        if settings.nim_app_secret is None:
            update["nim_app_secret"] = SecretStr(self.nim_app_secret)
        return settings.model_copy(update=update)

    def keep(self) -> None:
        """Write them to ``file`` (owner-only) unless they came from it."""
        if self.file is None or self.kept:
            return
        text = orjson.dumps({"jwt_secret": self.jwt_secret, "nim_app_secret": self.nim_app_secret})
        descriptor = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(text + b"\n")


def demo_keys(settings: Settings) -> DemoKeys:
    """The keys kept next to the demo's database, or new ones."""
    file = _file(settings)
    if file is not None and file.is_file():
        try:
            kept = orjson.loads(file.read_bytes())
            return DemoKeys(str(kept["jwt_secret"]), str(kept["nim_app_secret"]), file, True)
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
            raise ConfigurationError(f"cannot read the demo keys in {file}: remove it ({e})") from e
    return DemoKeys(secrets.token_urlsafe(32), secrets.token_hex(16), file, False)


def kept_keys(database: str = DEMO_DATABASE) -> DemoKeys:
    """The keys a demo on ``database`` (a SQLite file) keeps, for commands run beside it."""
    file = Path(database + SUFFIX)
    if not file.is_file():
        raise ConfigurationError(
            f"no demo keys in {file}: start the demo here first (make demo), or run this where "
            "it runs"
        )
    keys = demo_keys(Settings(database_url=database))
    assert keys.kept
    return keys


def _file(settings: Settings) -> Path | None:
    if settings.uses_postgres():
        return None
    path = settings.sqlite_path()
    if path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path + SUFFIX)
