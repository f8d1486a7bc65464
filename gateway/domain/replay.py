"""Signatures seen within their window, so a captured signed request works once.

Memory is bounded: an entry lives until its signature's time window closes, and at most
``capacity`` live at once. When full, new requests are refused (429) rather than older entries
dropped, which would reopen their replay; only holders of the app secret can fill it, since a
signature is claimed only after it has been verified. The cache is per process: see
docs/api.md for what several replicas do.
"""

from __future__ import annotations

import heapq

from gateway.errors import GatewayError, Refused

DEFAULT_CAPACITY = 100_000


class ReplayCacheFull(GatewayError):
    code = "TOO_MANY_SIGNED_REQUESTS"


class ReplayCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._expiry: dict[str, int] = {}
        self._by_expiry: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def claim(self, signature: str, expires_at_ms: int, now_ms: int) -> None:
        """Record ``signature`` as used until ``expires_at_ms``; refuse one already used."""
        self._forget_expired(now_ms)
        if signature in self._expiry:
            raise Refused(
                "this signature was used already: sign every request afresh (new Nonce)",
                code="REPLAYED",
            )
        if len(self._expiry) >= self.capacity:
            raise ReplayCacheFull(
                f"more than {self.capacity} signed requests within the signature window: "
                "retry later"
            )
        self._expiry[signature] = expires_at_ms
        heapq.heappush(self._by_expiry, (expires_at_ms, signature))

    def _forget_expired(self, now_ms: int) -> None:
        while self._by_expiry and self._by_expiry[0][0] < now_ms:
            _, signature = heapq.heappop(self._by_expiry)
            del self._expiry[signature]
