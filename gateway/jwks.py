"""An identity provider's signing keys, from its JWKS URL (OpenID Connect's ``jwks_uri``).

Fetched with a timeout, kept, and fetched again when a token names a key (``kid``) they lack:
that is how a provider's key rotation reaches the gateway. Fetches are at most one per
``min_refresh_s`` (a minute by default), however many tokens name unknown keys, so a flood of
forged ``kid``s costs the provider one request a minute; concurrent callers share one fetch. A
failed fetch keeps the keys already known, and says why to whoever asks next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

logger = logging.getLogger("gateway")

# Keys a public JWKS may hold for signatures: never a shared secret ("oct").
_SIGNING_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


class KeySet:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5,
        min_refresh_s: float = 60,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._timeout_s = timeout_s
        self._min_refresh_s = min_refresh_s
        self._clock = clock
        self._transport = transport
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._attempted_at: float | None = None
        self._problem: str | None = None  # why the last fetch failed; None after a success
        self._fetching: asyncio.Task[None] | None = None
        self.generation = 0  # counts the fetches that succeeded

    def get(self, kid: str | None) -> dict[str, Any] | None:
        """The JWK named ``kid``; a token without a ``kid`` names the set's only key."""
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def why_missing(self, kid: str | None) -> str:
        """Why no key ``kid`` is known, for the client's error message."""
        named = "names no key (no kid)" if kid is None else f"names a key (kid {kid!r})"
        if self._problem is not None:
            return (
                f"the access token {named} that is not among the identity provider's keys known "
                f"here, and they could not be fetched again from {self.url}: {self._problem}"
            )
        return (
            f"the access token {named} that is not among the identity provider's keys ({self.url})"
        )

    async def refresh(self) -> None:
        """Fetch the keys again, unless that was tried less than ``min_refresh_s`` ago."""
        if self._fetching is not None and self._fetching.done():
            self._fetching = None  # its waiters were cancelled before it ended
        if self._fetching is None:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_refresh_s:
                return
            self._attempted_at = now
            self._fetching = asyncio.create_task(self._fetch())
        fetching = self._fetching
        try:
            await asyncio.shield(fetching)
        finally:
            if fetching.done() and self._fetching is fetching:
                self._fetching = None

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout_s, transport=self._transport, follow_redirects=True
            ) as http:
                response = await http.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = _signing_keys(response.json())
        except Exception as e:  # whatever went wrong, the known keys stay and it is said why
            self._problem = _reason(e)
            logger.warning(
                "cannot fetch the identity provider's keys from %s: %s (the %d known keep "
                "working)", self.url, self._problem, len(self._keys),
            )  # fmt: skip
            return
        added = sorted(str(kid) for kid in keys.keys() - self._keys.keys())
        self._keys, self._problem = keys, None
        self.generation += 1
        logger.info("fetched %d signing keys from %s (new: %s)", len(keys), self.url,
                    ", ".join(added) or "none")  # fmt: skip


def _signing_keys(document: object) -> dict[str | None, dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('not a JWK Set: no "keys" list')
    keys: dict[str | None, dict[str, Any]] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") not in _SIGNING_KEY_TYPES:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            jwt.PyJWK(jwk)  # a key PyJWT can use
        except jwt.PyJWTError:
            continue
        kid = jwk.get("kid")
        keys[kid if isinstance(kid, str) else None] = jwk
    if not keys:
        raise ValueError("the JWK Set has no RSA, EC or OKP signing key")
    return keys


def _reason(error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"it answered {error.response.status_code}"
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time"
    return str(error) or type(error).__name__
