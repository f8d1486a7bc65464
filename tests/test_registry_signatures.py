"""The team registry's signatures, kept by the store: each accepted once, by every process on the
database, until its window closes; then forgotten."""

from __future__ import annotations

from collections.abc import Callable

from gateway.settings import Settings
from gateway.store import SessionStore
from tests.helpers import raw_sql


async def test_a_signature_is_claimed_once(store: SessionStore) -> None:
    assert await store.claim_signature("s1", expires_at=100, now=0)
    assert not await store.claim_signature("s1", expires_at=100, now=50)


async def test_a_signature_claimed_by_one_store_is_taken_for_every_other(
    store: SessionStore, new_store: Callable[[], SessionStore]
) -> None:
    assert await store.claim_signature("s1", expires_at=100, now=0)
    async with new_store() as replica:
        assert not await replica.claim_signature("s1", expires_at=100, now=0)


async def test_a_signature_is_remembered_until_its_window_closes_then_forgotten(
    store: SessionStore, settings: Settings
) -> None:
    await store.claim_signature("s1", expires_at=100, now=0)
    assert not await store.claim_signature("s1", expires_at=100, now=100)
    assert await store.claim_signature("s2", expires_at=300, now=101)
    assert await raw_sql(settings, "SELECT signature FROM registry_signatures") == [("s2",)]
