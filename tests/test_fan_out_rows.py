"""A fan-out hands listeners the changes of the owners they watch, whether its statement brings
every owner's changed row back itself (RETURNING) or the watched owners' rows are read back
after it (``Dialect.returning_from`` chooses): the same changes, on both backends, and the same
ones the feed gives."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.domain.sessions import LastMessageKind
from gateway.domain.sync import Change
from gateway.ingest import Ingestor
from gateway.store import SessionStore
from gateway.store._changes import ChangeLog
from gateway.store.postgres import POSTGRES, PostgresDriver, PostgresStore
from gateway.store.sqlite import SQLITE, SqliteDriver, SqliteStore
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.helpers import T0, cc_message, cc_recall, team

MEMBERS = [f"m{n:02}" for n in range(12)]
WATCHED = [*MEMBERS[:9], "someone-else"]  # three members nobody watches
LISTED = [*MEMBERS[3:], "newcomer"]  # the last message's tMembers
CREW = team("crew")
PATHS = {"returning": 0.0, "read back": 2.0}  # Dialect.returning_from: any share, none


class Recorder:
    """Watches ``WATCHED``; keeps what the last commit handed it."""

    def __init__(self) -> None:
        self.owners: frozenset[str] = frozenset()
        self.changes: dict[str, list[Change]] = {}

    def notify(
        self, owners: frozenset[str], changes: Mapping[str, list[Change]] | None = None
    ) -> None:
        self.owners = owners
        self.changes = {owner: list(mine) for owner, mine in (changes or {}).items()}

    def watched(self) -> Collection[str]:
        return WATCHED


@asynccontextmanager
async def opened(database_url: str, tmp_path: Path, path: str) -> AsyncIterator[SessionStore]:
    """A store on a database of its own, of ``database_url``'s backend, taking ``path``."""
    share = PATHS[path]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SqliteDriver, "dialect", dataclasses.replace(SQLITE, returning_from=share))
        patch.setattr(
            PostgresDriver, "dialect", dataclasses.replace(POSTGRES, returning_from=share)
        )
        if database_url.startswith("postgresql"):
            async with postgres_schema(POSTGRES_URL) as url, PostgresStore(url) as store:
                yield store
        else:
            async with SqliteStore(tmp_path / f"{path}.db") as store:
                yield store


async def handed_over(store: SessionStore) -> list[tuple[frozenset[str], dict[str, list[Change]]]]:
    """What each team message of a day of varied members hands a listener, checked against
    the feed."""
    ingest = Ingestor(store).apply_json
    await store.set_team_members(CREW, MEMBERS, T0 - 1)
    await ingest(cc_message("t1", "m00", "crew", T0, conv="TEAM"))
    await store.mark_read("m01", [CREW], T0 + 10)
    await store.delete_sessions("m02", [CREW], T0 + 20)
    await store.set_pinned("m03", CREW, True, T0 + 21)
    await store.update_ext("m04", CREW, '{"muted":true}', T0 + 22)
    await store.set_pinned("m10", CREW, True, T0 + 23)  # not watched
    await store.delete_sessions("m11", [CREW], T0 + 24)  # not watched
    recorder = Recorder()
    store.add_listener(recorder)
    listed = cc_message("t4", "m05", "crew", T0 + 50, conv="TEAM")
    listed["tMembers"] = f"[{', '.join(LISTED)}]"
    events: list[dict[str, Any]] = [
        cc_message("t2", "m00", "crew", T0 + 30, conv="TEAM"),  # the sender's is not unread
        cc_message("t0", "m06", "crew", T0 + 5, conv="TEAM"),  # late: unread only where counted
        cc_recall("t3", "m07", "crew", T0 + 45, event_type=8, sent=T0 + 40),  # before its message
        cc_message("t3", "m07", "crew", T0 + 40, conv="TEAM"),  # arrives recalled
        listed,  # NIM's tMembers: exactly they receive it
    ]
    handed = []
    for event in events:
        before = {owner: await store.sync_position(owner) for owner in MEMBERS}
        recorder.notify(frozenset())  # a commit that changes no session tells nobody
        await ingest(event)
        handed.append((recorder.owners, recorder.changes))
        for owner, changes in recorder.changes.items():
            assert owner in WATCHED
            assert changes == (await store.changes_since(owner, before[owner], 100)).changes
    return handed


async def test_returning_rows_and_reading_them_back_hand_over_the_same_changes(
    database_url: str, tmp_path: Path
) -> None:
    async with opened(database_url, tmp_path, "returning") as store:
        returned = await handed_over(store)
    async with opened(database_url, tmp_path, "read back") as store:
        read_back = await handed_over(store)

    assert returned == read_back
    sessions = [c.session for _, changes in returned for cs in changes.values() for c in cs]
    assert any(s is not None and s.revoke is not None for s in sessions)
    assert any(s is not None and s.pinned_at is not None for s in sessions)
    assert any(s is not None and s.server_ext for s in sessions)
    assert {owner for _, changes in returned for owner in changes} == set(MEMBERS[:9])


@pytest.mark.parametrize("path", list(PATHS))
async def test_a_fan_out_hands_over_only_the_watched_owners_it_changed(
    database_url: str, tmp_path: Path, path: str
) -> None:
    async with opened(database_url, tmp_path, path) as store:
        [*_, (owners, changes)] = await handed_over(store)

    # t4 reached its tMembers (m03..m11, newcomer); m01 and m02 are no longer listed
    assert owners == frozenset(LISTED)
    assert sorted(changes) == MEMBERS[3:9]
    for [change] in changes.values():
        assert change.session is not None
        assert change.session.last_message_kind is LastMessageKind.MESSAGE
        assert change.session.last_message_id == "t4"


def test_a_change_recorded_after_a_fan_out_of_the_same_session_is_the_one_handed_over() -> None:
    changes = ChangeLog()
    changes.record_owners(["m00", "m01"])
    # owner, version, deleted_at, then the session columns; decoded once asked for
    columns = ("team|crew", T0, "", 0, "t1", None, None, None, 1, None, None, 0)
    changes.record_fan_out([("m00", 7, None, *columns), ("m01", 4, None, *columns)], CREW)
    [read] = changes.record_rows([("m00", 7, None, *columns[:8], 0, T0 + 1, None, 0)])

    handed = changes.by_owner()

    assert handed["m00"] == [read]
    assert read.session is not None
    assert read.session.unread_count == 0
    [other] = handed["m01"]
    assert other.session is not None
    assert (other.version, other.session.unread_count) == (4, 1)
