"""The `gateway` command's token, seed and schema subcommands."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.domain.keys import SessionKey
from gateway.domain.pages import Page, PageQuery, TimeWindow
from gateway.domain.sessions import LastMessageKind, Session
from gateway.store.sqlite import SqliteStore
from tests.helpers import SECRET


def test_token_prints_a_jwt_for_the_account() -> None:
    result = CliRunner().invoke(main, ["token", "bob", "--ttl", "60"],
                                env={"GATEWAY_JWT_SECRET": SECRET})  # fmt: skip
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "bob"
    assert 0 < claims["exp"] - time.time() <= 60


def test_token_without_a_secret_says_so() -> None:
    result = CliRunner().invoke(main, ["token", "bob"], env={"GATEWAY_JWT_SECRET": ""})
    assert result.exit_code != 0
    assert "GATEWAY_JWT_SECRET" in result.output


@pytest.mark.parametrize("url", ["{path}", "sqlite:///{path}"])
def test_seed_fills_a_database_with_demo_sessions(tmp_path: Path, url: str) -> None:
    db = tmp_path / "seeded.db"
    result = CliRunner().invoke(main, ["seed", "--db", url.format(path=db)])
    assert result.exit_code == 0, result.output

    count, page, teams = asyncio.run(alices_list(db))
    assert count > 100  # more than one page
    assert {s.last_message_kind for s in page.sessions} == {
        LastMessageKind.MESSAGE, LastMessageKind.REVOKE_NOTIFICATION,
    }  # fmt: skip
    assert {str(s.key) for s in teams} == {"team|1001", "super_team|5001"}


async def alices_list(db: Path) -> tuple[int, Page, list[Session]]:
    async with SqliteStore(db) as store:
        window = TimeWindow()
        teams = [SessionKey.parse("team|1001"), SessionKey.parse("super_team|5001")]
        return (
            await store.count_sessions("alice", window),
            await store.list_sessions("alice", PageQuery(window, limit=100)),
            await store.get_sessions("alice", teams),
        )


def test_schema_prints_the_sdl() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    sdl = (Path(__file__).parent.parent / "schema.graphql").read_text()
    assert result.output == sdl
