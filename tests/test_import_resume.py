"""An interrupted `gateway import` resumes where it stopped and ends exactly as one clean import
(issue 26): nothing applied twice, no unread message counted twice, the counts of the whole file
reported. Interrupted between two batches, inside the window where a batch has committed but its
checkpoint has not, and by SIGKILL in the middle of whatever the process was doing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.importing import write_history
from gateway.domain.imports import Checkpoint
from gateway.importer import ImportReport, import_file
from gateway.settings import Settings
from gateway.store import PostgresStore, SessionStore, SqliteStore
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.helpers import raw_sql
from tests.test_bulk_import import history, lines

ROOT = Path(__file__).parent.parent


@pytest.fixture
async def clean(settings: Settings) -> AsyncIterator[tuple[SessionStore, Settings]]:
    """A second database of the test's backend, for the clean import."""
    if not settings.uses_postgres():
        path = str(Path(settings.sqlite_path()).with_name("clean.db"))
        async with SqliteStore(path) as store:
            yield store, settings.model_copy(update={"database_url": path})
        return
    async with postgres_schema(POSTGRES_URL) as url, PostgresStore(url, pool_size=2) as store:
        yield store, settings.model_copy(update={"database_url": url})


def history_file(path: Path, seeds: range) -> Path:
    """Several of test_bulk_import's histories, one after another (a team line, recalls, team
    notifications, numeric accounts), with a line that is not JSON and a login event."""
    made = []
    for seed in seeds:
        h = history(seed)
        made += lines(h.team_lines if seed == seeds[0] else [])
        made += lines(h.events)[: 30 + seed]  # a prefix: later seeds' ids do not reach back
        made += [b"{not json", b'{"eventType": 2, "accid": "123"}']
    path.write_bytes(b"".join(line + b"\n" for line in made))
    return path


async def dump(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an import writes, as rows (the change feed's versions aside)."""
    queries = {
        "sessions": "SELECT owner, key, update_time, server_ext, last_kind, last_msg_id, "
        "last_msg_time, revoke_operator, revoke_time, unread, deleted_at FROM sessions "
        "ORDER BY owner, key",
        "messages": "SELECT server_id, conversation, from_account, time, team_key FROM messages "
        "ORDER BY server_id, conversation",
        "revocations": "SELECT * FROM revocations ORDER BY message_server_id, conversation",
        "members": "SELECT team_key, member FROM team_members ORDER BY team_key, member",
        "facts": "SELECT team_key, account, time, event_id, member, receives FROM team_facts "
        "ORDER BY team_key, account, time, event_id",
        "snapshots": "SELECT team_key, time, event_id, members, receivers FROM team_snapshots "
        "ORDER BY team_key, time, event_id",
    }
    return {name: await raw_sql(settings, query) for name, query in queries.items()}


class Crash(Exception):
    pass


def crash_after(batches: int) -> Any:
    """A progress callback that crashes the import once ``batches`` batches have committed."""
    seen = [0]

    def advance(size: int, items: int) -> None:
        seen[0] += 1
        if seen[0] == batches:
            raise Crash

    return advance


def counts(report: ImportReport) -> tuple[object, ...]:
    return (report.applied, report.duplicate, report.ignored, report.teams, report.rejected)


async def test_an_import_interrupted_between_batches_resumes_where_it_stopped(
    tmp_path: Path, settings: Settings, store: SessionStore, clean: tuple[SessionStore, Settings]
) -> None:
    path = history_file(tmp_path / "history.jsonl", range(4))
    whole = await import_file(clean[0], path, batch_lines=5)

    with pytest.raises(Crash):
        await import_file(store, path, crash_after(6), batch_lines=5)
    resumed = await import_file(store, path, batch_lines=5)

    assert resumed.resumed_at > 0
    assert counts(resumed) == counts(whole)
    assert (whole.applied, len(whole.rejected), whole.teams) > (100, 3, 0)
    assert await dump(settings) == await dump(clean[1])


class FailingCheckpoints:
    """A store whose first checkpoint saved on its own (after a batch's leftovers) fails: the
    batch, its leftovers too, committed; the position did not."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def save_import_checkpoint(self, checkpoint: Checkpoint) -> None:
        if not self.failed:
            self.failed = True
            raise Crash
        await self.store.save_import_checkpoint(checkpoint)


async def test_a_batch_applied_again_after_a_crash_counts_nothing_twice(
    tmp_path: Path, settings: Settings, store: SessionStore, clean: tuple[SessionStore, Settings]
) -> None:
    path = history_file(tmp_path / "history.jsonl", range(3))
    await import_file(clean[0], path, batch_lines=6)
    failing = FailingCheckpoints(store)

    with pytest.raises(Crash):
        await import_file(failing, path, batch_lines=6)
    assert failing.failed  # a batch left something one by one (a recall of an earlier batch's)
    resumed = await import_file(store, path, batch_lines=6)

    assert resumed.duplicate > 0  # what the crash cut short, applied again: recognised
    assert await dump(settings) == await dump(clean[1])


@pytest.mark.timeout(120)
async def test_an_import_killed_mid_way_resumes_and_ends_as_one_clean_import(
    tmp_path: Path, settings: Settings, clean: tuple[SessionStore, Settings]
) -> None:
    path = tmp_path / "big.jsonl"
    write_history(path, 6_000)
    await import_file(clean[0], path)
    command = [sys.executable, "-m", "gateway", "import", str(path), "--batch-size", "100"]
    env = {**os.environ, "GATEWAY_DATABASE_URL": settings.database_url}

    finished = await asyncio.to_thread(kill_at_30_percent_then_finish, command, env)

    assert "resumed an interrupted import after line" in finished.stderr
    assert finished.stdout.strip().endswith("6000 applied, 0 duplicate, 0 ignored, "
                                            "0 team lists, 0 rejected")  # fmt: skip
    assert await dump(settings) == await dump(clean[1])


def kill_at_30_percent_then_finish(
    command: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    killed = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    assert killed.stderr is not None
    for line in killed.stderr:  # progress lines: each after a batch committed
        if line.startswith(b"importing big.jsonl: 30%"):
            break
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True)
