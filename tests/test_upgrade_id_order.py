"""A database the previous release made upgrades in place to one order by (msgTimestamp, msgidServer
as an unsigned integer) and to messages keyed by conversation (issue 23).

The old database is made by the previous release's own code (its ``gateway`` package, taken from
git at PREVIOUS_RELEASE and run in a process of its own) from a history whose ties it resolved by
text; a copy is opened by this release, and its lists must be what this release gives the same
history from scratch. Then the same later events reach both, and they must still agree."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.pages import PageQuery, TimeWindow
from gateway.ingest import Ingestor
from gateway.settings import Settings
from gateway.store import PostgresStore, SqliteStore
from gateway.store.base import SessionStore
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.helpers import T0, cc_message, cc_recall

ROOT = Path(__file__).parent.parent
PREVIOUS_RELEASE = "457f0b94c1fba1a28797ff445f793d0f96c72c97"  # main before issue 23
NOW = T0 + 3_600_000
ACCOUNTS = ["alice", "bob", "carol", "dave"]
TEAM = SessionKey(SessionType.TEAM, "42")


def team_event(msgid: str, sender: str, time: int, **fields: Any) -> dict[str, Any]:
    return {**cc_message(msgid, sender, "42", time, conv="TEAM"), **fields}


def kick_or_invite(msgid: str, time: int, code: int, ids: list[str]) -> dict[str, Any]:
    return team_event(msgid, "alice", time, msgType="NOTIFICATION",
                      attach={"id": code, "data": {"ids": ids}})  # fmt: skip


# Steps: ("event", body) or ("read", owner, key). A team's tie of one millisecond whose ids differ
# in length, which the previous release ordered as text. (A P2P session keeps the message that won
# such a tie: earlier releases did not keep whom the other one went to; store/_upgrades.py.)
BEFORE: list[tuple[Any, ...]] = [
    ("event", cc_message("9999", "alice", "bob", T0)),
    ("event", cc_message("10000", "bob", "alice", T0 + 1)),
    ("event", cc_message("c1", "alice", "carol", T0 + 1)),  # nobody's last message: no peer kept
    ("event", cc_message("c2", "alice", "carol", T0 + 2)),
    ("event", cc_recall("d1", "dave", "alice", T0 + 9, sent=T0 + 3)),  # before its message
    ("event", kick_or_invite("70000", T0, 0, ["bob", "carol"])),
    ("event", kick_or_invite("81000", T0 + 10, 1, ["carol"])),
    ("event", team_event("8999", "bob", T0 + 10)),  # before the kick: carol gets it
    ("event", cc_recall("90", "bob", "42", T0 + 19, event_type=8, sent=T0 + 15)),  # early
    ("read", "bob", "p2p|alice"),
]
AFTER: list[tuple[Any, ...]] = [
    ("event", cc_message("c1", "alice", "carol", T0 + 1)),  # a duplicate
    ("event", cc_recall("c1", "alice", "carol", T0 + 20, sent=T0 + 1)),
    ("event", cc_message("d1", "dave", "alice", T0 + 3)),  # its recall came before the upgrade
    ("event", team_event("90", "bob", T0 + 15)),  # so did this one's
    ("event", team_event("100", "alice", T0 + 20)),
]

OLD_GATEWAY = """
import asyncio, sys
import orjson
sys.path.insert(0, sys.argv[1])
import gateway
assert gateway.__file__.startswith(sys.argv[1]), gateway.__file__
from gateway.domain.keys import SessionKey
from gateway.ingest import Ingestor
from gateway.settings import Settings
from gateway.store import open_store

async def main() -> None:
    steps = orjson.loads(sys.stdin.buffer.read())
    async with open_store(Settings(database_url=sys.argv[2])) as store:
        ingestor = Ingestor(store, lambda: int(sys.argv[3]))
        for step in steps:
            if step[0] == "event":
                await ingestor.apply_json(step[1])
            else:
                await store.mark_read(step[1], [SessionKey.parse(step[2])], int(sys.argv[3]))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's ``gateway`` package, from git."""
    if not (ROOT / ".git").exists():
        pytest.skip("the previous release is taken from git: run the suite in a checkout")
    command = ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE, "gateway"]
    archive = subprocess.run(command, capture_output=True, check=True)
    target = tmp_path_factory.mktemp("previous-release")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def run_previous_release(release: Path, database_url: str, steps: list[tuple[Any, ...]]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", OLD_GATEWAY, str(release), database_url, str(NOW)],
        input=orjson.dumps(steps), capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]


async def apply(store: SessionStore, steps: list[tuple[Any, ...]]) -> None:
    ingestor = Ingestor(store, lambda: NOW)
    for step in steps:
        if step[0] == "event":
            await ingestor.apply_json(step[1])
        else:
            await store.mark_read(step[1], [SessionKey.parse(step[2])], NOW)


async def lists(store: SessionStore) -> dict[str, Any]:
    found: dict[str, Any] = {"members": await store.team_members(TEAM)}
    for account in ACCOUNTS:
        page = await store.list_sessions(account, PageQuery(TimeWindow()), with_last_messages=True)
        found[account] = [
            (str(s.key), s.update_time, s.last_message_kind, s.last_message_id,
             s.revoke and s.revoke.time, s.unread_count, s.last_read_time,
             m and m.text)
            for s, m in zip(page.sessions, page.last_messages, strict=True)
        ]  # fmt: skip
    return found


@pytest.fixture
async def fresh(settings: Settings, tmp_path: Path) -> AsyncIterator[Callable[[], SessionStore]]:
    """A store of this release on a database of its own, for the same history from scratch."""
    if not settings.uses_postgres():
        yield lambda: SqliteStore(tmp_path / "fresh.db")
        return
    async with postgres_schema(POSTGRES_URL) as url:
        yield lambda: PostgresStore(url)


async def test_a_database_of_the_previous_release_gives_what_this_release_gives_from_scratch(
    previous_release: Path,
    settings: Settings,
    new_store: Callable[[], SessionStore],
    fresh: Callable[[], SessionStore],
    tmp_path: Path,
) -> None:
    if settings.uses_postgres():
        run_previous_release(previous_release, settings.database_url, BEFORE)
    else:  # made aside, and a copy upgraded
        original = tmp_path / "previous-release.db"
        run_previous_release(previous_release, str(original), BEFORE)
        shutil.copy(original, settings.sqlite_path())
    async with fresh() as scratch:
        await apply(scratch, BEFORE)
        expected = await lists(scratch)
        async with new_store() as upgraded:
            assert await lists(upgraded) == expected
            # The tie as this release orders it: 8999 before the kick, so carol got it.
            [carols] = await upgraded.get_sessions("carol", [TEAM])
            assert (carols.last_message_id, carols.unread_count) == ("81000", 1)

            await apply(upgraded, AFTER)
            await apply(scratch, AFTER)
            assert await lists(upgraded) == await lists(scratch)
            [carols] = await upgraded.get_sessions("carol", [SessionKey(SessionType.P2P, "alice")])
            assert (carols.last_message_id, carols.unread_count) == ("c2", 1)  # c1 taken back
            [alices] = await upgraded.get_sessions("alice", [SessionKey(SessionType.P2P, "dave")])
            assert alices.revoke is not None
            assert alices.revoke.message_server_id == "d1"
        async with new_store() as reopened:  # the upgrade's work is done once
            assert await lists(reopened) == await lists(scratch)
