"""The suite's reused PostgreSQL schemas (tests/schemas.py): a schema a test gives back is what a
new one is, and one whose structure a test changed is never handed out again."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.conftest import POSTGRES_URL
from tests.schemas import ReusedSchemas, url_of

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs GATEWAY_TEST_POSTGRES_URL")

DEAD_LETTER = (
    "INSERT INTO dead_letters (received_at, reason, detail, headers, body) "
    "VALUES (1, 'r', 'd', 'h', 'b') RETURNING id"
)


async def contents(schema: str) -> dict[str, list[tuple[Any, ...]]]:
    db = await asyncpg.connect(url_of(POSTGRES_URL, schema))
    try:
        tables = await db.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", schema
        )
        found = {}
        for (table,) in tables:
            rows = await db.fetch(f'SELECT * FROM "{table}"')  # noqa: S608  # the catalog's
            found[table] = sorted(tuple(map(str, row)) for row in rows)
        return found
    finally:
        await db.close()


async def write(schema: str, statement: str) -> Any:
    db = await asyncpg.connect(url_of(POSTGRES_URL, schema))
    try:
        return await db.fetchval(statement)
    finally:
        await db.close()


async def test_a_schema_given_back_is_what_a_new_one_is() -> None:
    schemas = ReusedSchemas(POSTGRES_URL)
    try:
        schema = await schemas.take()
        new = await contents(schema)
        assert new["schema_migrations"]  # migrated, with the rows migrations write
        first_id = await write(schema, DEAD_LETTER)
        await write(
            schema, "INSERT INTO sessions (owner, key, update_time) VALUES ('a', 'p2p|b', 1)"
        )
        await write(schema, "DELETE FROM schema_migrations")
        await schemas.give_back(schema)

        assert await schemas.take() == schema
        assert schemas.reused == 1
        assert await contents(schema) == new
        assert await write(schema, DEAD_LETTER) == first_id  # identities start again
    finally:
        await schemas.give_back(schema)
        await schemas.drop_all()


@pytest.mark.parametrize(
    "change",
    [
        "CREATE INDEX extra ON sessions (update_time)",
        "ALTER TABLE sessions ADD COLUMN extra integer",
        "CREATE TABLE extra (id integer)",
        "DROP TRIGGER sessions_grouped_time ON sessions",
    ],
)
async def test_a_schema_whose_structure_changed_is_dropped(change: str) -> None:
    schemas = ReusedSchemas(POSTGRES_URL)
    try:
        schema = await schemas.take()
        await write(schema, change)
        await schemas.give_back(schema)
        assert schemas.free == []
        db = await asyncpg.connect(POSTGRES_URL)
        try:
            assert (
                await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema)
                == 0
            )
        finally:
            await db.close()
    finally:
        await schemas.drop_all()
