"""One order for NIM's events, ``(msgTimestamp, msgidServer as an unsigned integer)``: the sort key
of an id (domain/order.py) and the keys each backend computes in its columns are one function, and
each backend sorts them as Python does."""

from __future__ import annotations

import random
import sqlite3
import string

import asyncpg
import pytest

from gateway.domain.order import event_key, id_order
from gateway.settings import Settings
from gateway.store.base import SessionStore
from tests.helpers import raw_sql

TRICKY = [
    "0", "00", "000", "1", "01", "001", "9", "10", "09", "99", "100", "0100", "999", "1000",
    "8999", "81000", "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "18446744073709551616", "99999999999999999999", "100000000000000000000",
    "000000000000000000000000000000123", "0" * 128, "9" * 128, "12a", "a12", "m1", "m10", "m9",
    "²", "١٢", "\uff11\uff12", "-1", "+1", "1.0", "1e3", "é", "张三", "~", "!", "Z", "z", "0x10",
]  # fmt: skip


def ids() -> list[str]:
    rng = random.Random(23)
    alphabet = string.digits * 4 + string.ascii_letters + "-_.:~!é张²"
    made = set(TRICKY)
    while len(made) < 400:
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        made.add(text.lstrip("0") if rng.random() < 0.5 else text)
    return sorted(made)


# table: the insert of (n, id), the read of (id, key), the ids in the key's order
COLUMNS = {
    "messages": (
        "INSERT INTO messages (server_id, conversation, from_account, type, time) "
        "VALUES ({id}, 'team|1', 'a', 'TEXT', {n})",
        "SELECT server_id, order_key FROM messages",
        "SELECT server_id FROM messages ORDER BY order_key",
    ),
    "sessions": (
        "INSERT INTO sessions (owner, key, kind, update_time, last_msg_id) "
        "VALUES ('o', 'p2p|' || {id}, 0, {n}, {id})",
        "SELECT last_msg_id, last_msg_order FROM sessions",
        "SELECT last_msg_id FROM sessions ORDER BY last_msg_order",
    ),
    "team_facts": (
        "INSERT INTO team_facts (team_key, account, time, event_id, member, receives) "
        "VALUES ('team|1', 'a', {n}, {id}, 1, 1)",
        "SELECT event_id, event_order FROM team_facts",
        "SELECT event_id FROM team_facts ORDER BY event_order",
    ),
    "team_snapshots": (
        "INSERT INTO team_snapshots (team_key, time, event_id, members) "
        "VALUES ('team|1', {n}, {id}, '[]')",
        "SELECT event_id, event_order FROM team_snapshots",
        "SELECT event_id FROM team_snapshots ORDER BY event_order",
    ),
}


def test_the_key_compares_as_the_number_then_the_text() -> None:
    assert id_order("999") < id_order("01000") < id_order("1000") < id_order("1001")
    assert id_order("18446744073709551615") < id_order("99999999999999999999")
    assert id_order("99999999999999999999") < id_order("100000000000000000000")  # text: after
    assert id_order("9" * 128) < id_order("a")  # numbers of up to 20 digits first
    assert id_order("") < id_order("0")  # the registry's changes come first in their millisecond
    assert event_key(5, "1000") > event_key(5, "999")
    assert event_key(6, "1") > event_key(5, "9")


async def test_every_column_holds_the_key_python_gives_and_sorts_as_python_does(
    store: SessionStore, settings: Settings
) -> None:
    every = ids()
    rows = [(n, text) for n, text in enumerate(every)]
    for table, (insert, read, ordered) in COLUMNS.items():
        await _insert(settings, insert, rows)
        found = await raw_sql(settings, read)
        assert {str(i): str(k) for i, k in found} == {i: id_order(i) for i in every}, table
        in_order = await raw_sql(settings, ordered)
        assert [str(i) for (i,) in in_order] == sorted(every, key=id_order), table


async def _insert(settings: Settings, template: str, rows: list[tuple[int, str]]) -> None:
    if settings.uses_postgres():
        statement = template.format(id="$2", n="$1")
        db = await asyncpg.connect(settings.database_url)
        try:
            await db.executemany(statement, rows)
        finally:
            await db.close()
        return
    with sqlite3.connect(settings.sqlite_path()) as lite:
        lite.executemany(template.format(id="?2", n="?1"), rows)


@pytest.mark.parametrize("text", ["", "0"])
def test_an_empty_id_keys_first_and_zero_keys_as_a_number(text: str) -> None:
    assert id_order(text) == ("" if not text else "0" + "0" * 20 + "0")
