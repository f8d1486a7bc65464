"""`gateway import`: a JSON-lines history goes through the webhook's rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from click.testing import CliRunner

from gateway.cli import main
from gateway.domain.keys import SessionKey
from gateway.domain.sessions import LastMessageKind, Session
from gateway.store.sqlite import SqliteStore
from tests.helpers import APP_SECRET, T0, cc_message, cc_recall


def write_lines(path: Path, lines: list[object]) -> None:
    path.write_bytes(b"".join(
        (line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines
    ))  # fmt: skip


async def sessions_of(db: Path, owner: str, *keys: str) -> list[Session]:
    async with SqliteStore(db) as store:
        return await store.get_sessions(owner, [SessionKey.parse(k) for k in keys])


def test_import_applies_counts_and_reports(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    write_lines(history, [
        {"tid": "42", "type": "TEAM", "members": ["bob", "carol"]},
        cc_message("m1", "alice", "bob", T0),
        cc_message("m2", "bob", "alice", T0 + 5),
        cc_message("m1", "alice", "bob", T0),                # duplicate
        cc_message("t1", "alice", "42", T0 + 9, conv="TEAM"),
        cc_recall("m2", "bob", "alice", T0 + 10),
        {"eventType": 2, "accid": "alice"},                 # login: not used
        b"{oops",                                           # not JSON
        {"eventType": 1, "convType": "PERSON"},             # missing fields
        b"",
    ])  # fmt: skip
    db = tmp_path / "gw.db"
    result = CliRunner().invoke(main, ["import", str(history), "--db", str(db)])

    assert result.exit_code == 0, result.output
    assert "4 applied, 1 duplicate, 1 ignored, 1 team lists, 2 rejected" in result.output
    assert "line 8: BAD_JSON" in result.output
    assert "line 9: MISSING_FIELD" in result.output
    p2p, team = asyncio.run(sessions_of(db, "alice", "p2p|bob", "team|42"))
    assert p2p.last_message_kind is LastMessageKind.REVOKE_NOTIFICATION
    assert team.last_message_id == "t1"
    [carols] = asyncio.run(sessions_of(db, "carol", "team|42"))
    assert carols.last_message_id == "t1"


def test_importing_the_same_file_twice_changes_nothing(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    write_lines(history, [cc_message(f"m{n}", "alice", f"u{n}", T0 + n) for n in range(50)])
    db = tmp_path / "gw.db"
    first = CliRunner().invoke(main, ["import", str(history), "--db", str(db)])
    second = CliRunner().invoke(main, ["import", str(history), "--db", str(db)])
    assert "50 applied, 0 duplicate" in first.output
    assert "0 applied, 50 duplicate" in second.output


def test_strict_import_fails_on_rejected_lines(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    write_lines(history, [b"nope"])
    result = CliRunner().invoke(main, ["import", str(history), "--db", str(tmp_path / "x.db"),
                                       "--strict"])  # fmt: skip
    assert result.exit_code == 1


def test_sign_prints_the_headers_nim_sends() -> None:
    from gateway.domain.checksum import body_md5, checksum

    result = CliRunner().invoke(main, ["sign", '{"eventType":1}', "--secret", APP_SECRET])
    headers = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert headers["MD5"] == body_md5(b'{"eventType":1}')
    assert headers["CheckSum"] == checksum(APP_SECRET, headers["MD5"], headers["CurTime"])
