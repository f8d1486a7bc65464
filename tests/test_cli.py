"""The `gateway` command's token, seed, import and schema subcommands, its help, and how the demo
banner names the command."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import jwt
import orjson
import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.demo_banner import banner, own_command
from gateway.demo_keys import demo_keys
from gateway.domain.keys import SessionKey
from gateway.domain.pages import Page, PageQuery, TimeWindow
from gateway.domain.sessions import LastMessageKind, Session
from gateway.settings import Settings
from gateway.store.sqlite import SqliteStore
from tests.helpers import SECRET, T0, cc_message


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


def test_token_and_sign_use_the_keys_of_the_demo_on_the_database_named(tmp_path: Path) -> None:
    """`gateway serve --demo --db other.db` keeps its keys beside other.db: --demo with the same
    --db (or GATEWAY_DATABASE_URL) signs with them, not with gateway-demo.db's."""
    other = tmp_path / "other.db"
    keys = demo_keys(Settings(database_url=str(other)))
    keys.keep()
    for how, env in (
        (["--db", str(other)], {}),
        ([], {"GATEWAY_DATABASE_URL": f"sqlite:///{other}"}),
    ):
        result = CliRunner().invoke(main, ["token", "bob", "--demo", *how],
                                    env={"GATEWAY_JWT_SECRET": "", **env})  # fmt: skip
        assert result.exit_code == 0, result.output
        claims = jwt.decode(result.output.strip(), keys.jwt_secret, algorithms=["HS256"])
        assert claims["sub"] == "bob"
        result = CliRunner().invoke(main, ["sign", "{}", "--demo", *how], env=env)
        assert result.exit_code == 0, result.output
        assert "CheckSum: " in result.output
    missing = CliRunner().invoke(main, ["token", "bob", "--demo", "--db", str(tmp_path / "no.db")])
    assert missing.exit_code != 0
    assert "no demo keys" in missing.output


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


def test_a_second_seed_says_the_data_is_already_there(tmp_path: Path) -> None:
    db = tmp_path / "seeded.db"
    first = CliRunner().invoke(main, ["seed", "--db", str(db)])
    assert first.output.startswith("seeded ")
    second = CliRunner().invoke(main, ["seed", "--db", str(db)])
    assert second.exit_code == 0, second.output
    assert (
        second.output == f"the demo data is already in the SQLite database {db}: nothing to seed\n"
    )


@pytest.mark.parametrize("command", ["serve", "seed", "import"])
def test_db_help_names_every_kind_of_database(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=200)
    line = next(line for line in result.output.splitlines() if "--db" in line)
    for kind in ("SQLite file", "sqlite:///", "postgresql://"):
        assert kind in line


def test_import_without_a_terminal_prints_progress_lines_with_rate_and_eta(
    tmp_path: Path,
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_bytes(b"".join(
        orjson.dumps(cc_message(f"m-{n:03}", "alice", "bob", T0 + n)) + b"\n" for n in range(200)
    ))  # fmt: skip
    result = CliRunner().invoke(
        main, ["import", str(history), "--db", str(tmp_path / "i.db"), "--batch-size", "20"]
    )
    assert result.exit_code == 0, result.output
    steps = [line for line in result.output.splitlines() if line.startswith("importing ")]
    assert steps[0] == "importing history.jsonl: 0%"
    pattern = r"importing history\.jsonl: (\d+)% \(([\d,]+) lines, [\d,]+ lines/s, ETA [\d,]+ s\)"
    shown = [re.fullmatch(pattern, step) for step in steps[1:]]
    assert all(shown), steps
    assert [int(m[1]) for m in shown if m] == list(range(10, 101, 10))
    assert [int(m[2]) for m in shown if m] == list(range(20, 201, 20))
    assert result.output.splitlines()[-1].startswith("200 applied")


def test_a_bad_setting_is_one_line_naming_it() -> None:
    result = CliRunner().invoke(main, ["seed"], env={"GATEWAY_PG_POOL_SIZE": "many"})
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert "GATEWAY_PG_POOL_SIZE" in line
    assert "'many'" in line


class TestOwnCommand:
    """How the demo banner names this program, so that its lines run when pasted."""

    def test_found_on_the_path_it_is_just_gateway(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        program = _program(tmp_path / "bin")
        monkeypatch.setattr(sys, "argv", [str(program), "serve"])
        monkeypatch.setenv("PATH", str(program.parent))
        assert own_command() == "gateway"

    def test_elsewhere_it_is_its_absolute_path(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        program = _program(tmp_path / "my venv" / "bin")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "argv", ["my venv/bin/gateway", "serve"])
        monkeypatch.setenv("PATH", str(_program(tmp_path / "other").parent))  # another gateway
        assert own_command() == f"'{program}'"

    def test_as_a_module_it_is_python_dash_m(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "argv", ["/src/gateway/__main__.py", "serve"])
        assert own_command() == f"{sys.executable} -m gateway"


def _program(directory: Path) -> Path:
    directory.mkdir(parents=True)
    program = directory / "gateway"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return program


def test_the_banner_of_a_demo_with_a_public_key_says_where_tokens_come_from(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=str(tmp_path / "d.db"), jwt_public_key="-----BEGIN ...")
    keys = demo_keys(settings)
    printed = banner(keys.applied(settings), keys)
    assert "GATEWAY_JWT_PUBLIC_KEY" in printed
    assert " token bob" not in printed
    assert "/nim/cc" in printed
