"""The demo's keys: made once, kept next to its SQLite database (owner-only), the same on the next
start; never for a database that has no file; the environment's own keys win."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.demo_keys import demo_keys
from gateway.errors import ConfigurationError
from gateway.settings import Settings


def test_kept_next_to_the_database_and_the_same_on_the_next_start(tmp_path: Path) -> None:
    settings = Settings(database_url=str(tmp_path / "gateway-demo.db"))
    first = demo_keys(settings)
    assert not first.kept
    first.keep()
    file = tmp_path / "gateway-demo.db.demo-keys"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    again = demo_keys(settings)
    assert (again.jwt_secret, again.nim_app_secret, again.kept) == (
        first.jwt_secret, first.nim_app_secret, True,
    )  # fmt: skip


@pytest.mark.parametrize("url", [":memory:", "postgresql://127.0.0.1/gateway"])
def test_for_this_run_only_without_a_database_file(url: str) -> None:
    keys = demo_keys(Settings(database_url=url))
    assert keys.file is None
    keys.keep()  # nothing to write


def test_a_damaged_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "demo.db.demo-keys").write_text("not json")
    with pytest.raises(ConfigurationError, match=r"demo\.db\.demo-keys"):
        demo_keys(Settings(database_url=str(tmp_path / "demo.db")))


def test_the_environments_keys_win(tmp_path: Path) -> None:
    settings = Settings(database_url=str(tmp_path / "d.db"), jwt_secret=SecretStr("mine"),
                        nim_app_secret=SecretStr("app"))  # fmt: skip
    applied = demo_keys(settings).applied(settings)
    assert applied.jwt_secret == SecretStr("mine")
    assert applied.nim_app_secret == SecretStr("app")
    assert applied.rate_limit_reads_per_minute == 0


def test_a_public_key_stays_the_only_token_key(tmp_path: Path) -> None:
    settings = Settings(database_url=str(tmp_path / "d.db"), jwt_public_key="-----BEGIN ...")
    applied = demo_keys(settings).applied(settings)
    assert applied.jwt_secret is None
    assert applied.nim_app_secret is not None
