"""The replay cache: each signature once within its window, in bounded memory."""

from __future__ import annotations

import pytest

from gateway.domain.replay import ReplayCache, ReplayCacheFull
from gateway.errors import Refused


def test_a_signature_is_accepted_once() -> None:
    cache = ReplayCache(10)
    cache.claim("s1", expires_at_ms=100, now_ms=0)
    with pytest.raises(Refused) as refused:
        cache.claim("s1", expires_at_ms=100, now_ms=50)
    assert refused.value.code == "REPLAYED"


def test_a_signature_is_remembered_until_its_window_closes() -> None:
    cache = ReplayCache(10)
    cache.claim("s1", expires_at_ms=100, now_ms=0)
    with pytest.raises(Refused):
        cache.claim("s1", expires_at_ms=100, now_ms=100)
    cache.claim("s2", expires_at_ms=300, now_ms=101)
    assert len(cache) == 1  # s1 forgotten: its CurTime is stale from now on


def test_the_cache_holds_its_capacity_and_refuses_one_more() -> None:
    cache = ReplayCache(3)
    for n in range(3):
        cache.claim(f"s{n}", expires_at_ms=100 + n, now_ms=0)
    with pytest.raises(ReplayCacheFull):
        cache.claim("s3", expires_at_ms=100, now_ms=0)
    assert len(cache) == 3


def test_expired_signatures_make_room() -> None:
    cache = ReplayCache(2)
    cache.claim("old", expires_at_ms=10, now_ms=0)
    cache.claim("new", expires_at_ms=1000, now_ms=0)
    cache.claim("newer", expires_at_ms=1000, now_ms=11)
    assert len(cache) == 2
