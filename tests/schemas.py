"""Migrated PostgreSQL schemas, made once and reused across the suite's tests.

Migrating a new schema costs a PostgreSQL test more than the test itself (eight migrations of
DDL, then the store's upgrade tasks: 0.2 to 1 s on a busy two-core machine, against tens of
milliseconds for most tests). So a test gets a schema as a newly opened store leaves it, and gives
it back put back to that state: every table's rows are deleted and the rows the migrations and
upgrade tasks wrote are written again, identity columns restart, in one transaction. A schema
whose structure the test changed (a table, a column, an index, a trigger or a function more or
less than the first one had) is dropped instead, never reused; so is one whose reset fails.

Tests that need a schema no release has migrated yet (the upgrade tests, which build an earlier
release's database) ask for a fresh one: ``@pytest.mark.fresh_database``, or a module named
``test_upgrade_*``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from gateway.store import PostgresStore

# The structure of a schema: its relations with their columns, its triggers and its functions.
_STRUCTURE = """
SELECT 'relation', c.relname || ':' || c.relkind::text || ':' || coalesce((
    SELECT string_agg(a.attname || ' ' || a.atttypid::regtype::text || ' '
                      || a.attgenerated::text || a.attidentity::text, ',' ORDER BY a.attnum)
    FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
FROM pg_class c WHERE c.relnamespace = $1::regnamespace
UNION ALL
SELECT 'trigger', t.tgname || ' on ' || c.relname
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'function', p.proname FROM pg_proc p WHERE p.pronamespace = $1::regnamespace
ORDER BY 1, 2
"""
_TABLES = """
SELECT c.relname, array_agg(a.attname ORDER BY a.attnum) FILTER (WHERE a.attgenerated = ''),
       array_agg(a.attname ORDER BY a.attnum) FILTER (WHERE a.attidentity <> '')
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p')
GROUP BY c.relname ORDER BY c.relname
"""


@dataclass
class _Table:
    name: str
    columns: list[str]
    identities: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class ReusedSchemas:
    """Schemas of one PostgreSQL database (``base_url``), each migrated once."""

    base_url: str
    free: list[str] = field(default_factory=list)
    made: int = 0
    reused: int = 0
    _structure: list[tuple[str, str]] | None = None
    _tables: list[_Table] = field(default_factory=list)

    async def take(self) -> str:
        """A schema as a new store leaves it (migrated, upgrade tasks done, no data)."""
        if self.free:
            self.reused += 1
            return self.free.pop()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(self.base_url)
        try:
            await admin.execute(f"CREATE SCHEMA {schema}")
        finally:
            await admin.close()
        async with PostgresStore(url_of(self.base_url, schema), pool_size=1):
            pass  # migrated
        self.made += 1
        if self._structure is None:
            await self._remember(schema)
        return schema

    async def give_back(self, schema: str) -> None:
        """Put ``schema`` back as ``take`` gave it, for the next test; or drop it."""
        admin = await asyncpg.connect(self.base_url)
        try:
            try:
                reusable = await self._reset(admin, schema)
            except (asyncpg.PostgresError, OSError):
                reusable = False
            if reusable:
                self.free.append(schema)
            else:
                await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await admin.close()

    async def drop_all(self) -> None:
        admin = await asyncpg.connect(self.base_url)
        try:
            while self.free:
                await admin.execute(f"DROP SCHEMA IF EXISTS {self.free.pop()} CASCADE")
        finally:
            await admin.close()

    async def _remember(self, schema: str) -> None:
        admin = await asyncpg.connect(self.base_url)
        try:
            self._structure = [tuple(r) for r in await admin.fetch(_STRUCTURE, schema)]
            for name, columns, identities in await admin.fetch(_TABLES, schema):
                listed = ", ".join(f'"{c}"' for c in columns)
                # Names from the catalog of a schema this class made (so, everywhere here).
                rows = await admin.fetch(f'SELECT {listed} FROM {schema}."{name}"')  # noqa: S608
                self._tables.append(
                    _Table(name, list(columns), list(identities or []), [tuple(r) for r in rows])
                )
        finally:
            await admin.close()

    async def _reset(self, admin: asyncpg.Connection, schema: str) -> bool:
        structure = [tuple(r) for r in await admin.fetch(_STRUCTURE, schema)]
        if structure != self._structure:
            return False
        async with admin.transaction():
            for table in self._tables:
                await admin.execute(f'DELETE FROM {schema}."{table.name}"')  # noqa: S608
                for column in table.identities:
                    await admin.execute(
                        f'ALTER TABLE {schema}."{table.name}" ALTER COLUMN "{column}" RESTART'
                    )
                if table.rows:
                    listed = ", ".join(f'"{c}"' for c in table.columns)
                    marks = ", ".join(f"${n}" for n in range(1, len(table.columns) + 1))
                    insert = f'INSERT INTO {schema}."{table.name}" ({listed}) '
                    await admin.executemany(
                        f"{insert} OVERRIDING SYSTEM VALUE VALUES ({marks})", table.rows
                    )
        return True


def url_of(base_url: str, schema: str) -> str:
    return f"{base_url}{'&' if '?' in base_url else '?'}search_path={schema}"
