"""Bearer JWTs: the account id is ``sub`` (or the claim GATEWAY_JWT_ACCOUNT_CLAIM names), ``exp``
is required; ``exp``, ``nbf`` and ``iat`` are JSON numbers of seconds since 1970, up to the year
9999, checked with GATEWAY_JWT_CLOCK_SKEW_S of leeway.

Tokens are verified with one of: a shared secret (HS256), a public key (RS256/ES256), or an
identity provider's keys from its JWKS URL (jwks.py), picked by the token's ``kid``.

A verified token is remembered (a bounded LRU keyed by the token's text) with its account and
expiry, so a client that sends the same token on every request pays one signature check, not
one per request; a remembered token is refused from its ``exp`` on, as PyJWT would refuse it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
from cachetools import LRUCache

from gateway.domain.keys import check_account
from gateway.errors import BadUserInput, ConfigurationError, Unauthenticated
from gateway.jwks import KeySet
from gateway.settings import Settings

# Without GATEWAY_JWT_ALGORITHMS: HS256 for a secret; for a public key, whichever of these
# its type (RSA or EC) can verify; for a JWKS, every asymmetric algorithm (each key's own).
_FOR_SECRET: tuple[str, ...] = ("HS256",)
_FOR_PUBLIC_KEY: tuple[str, ...] = ("RS256", "ES256")
_FOR_JWKS: tuple[str, ...] = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip


class UnknownSigningKey(Unauthenticated):
    """The token names a key the JWKS did not have when last fetched: fetching it again may
    find it (``Authenticator.authenticated`` does)."""


class Authenticator:
    def __init__(
        self,
        settings: Settings,
        *,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings.check_auth()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._clock = clock
        self._verified: LRUCache[str, tuple[str, float]] = LRUCache(maxsize=cache_size)
        self._account_claim = settings.jwt_account_claim
        self._leeway = settings.jwt_clock_skew_s
        self.key_set: KeySet | None = None
        if settings.jwt_jwks_url is not None:
            self.key_set = KeySet(
                settings.jwt_jwks_url,
                timeout_s=settings.jwt_jwks_timeout_s,
                min_refresh_s=settings.jwt_jwks_min_refresh_s,
            )
            named = _named(settings.jwt_algorithms)
            for algorithm in named:
                if algorithm not in _FOR_JWKS:
                    raise ConfigurationError(
                        f"GATEWAY_JWT_ALGORITHMS: {algorithm} cannot verify tokens with "
                        "GATEWAY_JWT_JWKS_URL's keys: list asymmetric ones "
                        f"({', '.join(_FOR_JWKS)})"
                    )
            self._algorithms = named or list(_FOR_JWKS)
            self._jwks_keys: LRUCache[tuple[int, str, str], jwt.PyJWK] = LRUCache(maxsize=64)
            return
        if settings.jwt_secret is not None:
            key, key_setting = settings.jwt_secret.get_secret_value(), "GATEWAY_JWT_SECRET"
            defaults = _FOR_SECRET
        else:
            public_key = settings.public_key()
            assert public_key is not None
            key, key_setting = public_key, "GATEWAY_JWT_PUBLIC_KEY"
            defaults = _FOR_PUBLIC_KEY
        named = _named(settings.jwt_algorithms)
        for algorithm in named:
            reason = _why_not(algorithm, key)
            if reason is not None:
                raise ConfigurationError(
                    f"GATEWAY_JWT_ALGORITHMS: {algorithm} cannot verify tokens with "
                    f"{key_setting}: {reason}. List the algorithms of one key only: HS256/384/512 "
                    "with GATEWAY_JWT_SECRET, RS*/PS* with an RSA or ES* with an EC "
                    "GATEWAY_JWT_PUBLIC_KEY"
                )
        self._algorithms = named or [a for a in defaults if _why_not(a, key) is None]
        if not self._algorithms:
            raise ConfigurationError(
                f"{key_setting} is neither an RSA nor an EC public key: set "
                "GATEWAY_JWT_ALGORITHMS to the algorithms it is for"
            )
        # Parsed once: every algorithm left accepts this key.
        self._key = jwt.get_algorithm_by_name(self._algorithms[0]).prepare_key(key)

    async def authenticated(self, authorization: str | None) -> str:
        """The account id of a valid ``Authorization: Bearer`` header, fetching the identity
        provider's keys again (at most once a minute) when the token names one not known yet."""
        try:
            return self.authenticate(authorization)
        except UnknownSigningKey:
            assert self.key_set is not None
            await self.key_set.refresh()
            return self.authenticate(authorization)

    async def prefetch_keys(self) -> None:
        """Fetch the identity provider's keys now, so the first request need not wait."""
        if self.key_set is not None:
            await self.key_set.refresh()

    def authenticate(self, authorization: str | None) -> str:
        """The account id of a valid ``Authorization: Bearer`` header, with the keys known now
        (``UnknownSigningKey`` when a JWKS fetched again might have the token's key)."""
        if not authorization:
            raise Unauthenticated("no access token: send 'Authorization: Bearer <JWT>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <JWT>'")
        token = token.strip()
        known = self._verified.get(token)
        if known is not None:
            account, expires = known
            if self._clock() < expires:
                return account
            del self._verified[token]
            raise Unauthenticated("the access token has expired")
        account, expires = self._verify(token)
        self._verified[token] = (account, expires)
        return account

    def _verify(self, token: str) -> tuple[str, float]:
        """The account id and expiry of a token whose signature and claims are valid."""
        required = ["exp", "sub"] if self._account_claim == "sub" else ["exp"]
        try:
            claims = jwt.decode(
                token,
                self._verification_key(token),
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired") from None
        except (jwt.PyJWTError, ValueError) as e:
            # Whatever a token claims (algorithm, key type, encoding), it is refused, never a 500.
            raise Unauthenticated(f"the access token is not valid: {e}") from None
        for name in _TIMES:
            if name in claims and not _is_numeric_date(claims[name]):
                raise Unauthenticated(
                    f"the access token is not valid: its {name} must be a number of seconds "
                    f"since 1970 (JSON number, 0 to {_LATEST_TIME})"
                )
        name = self._account_claim
        subject = claim_at(claims, name)
        if subject is None:
            raise Unauthenticated(
                f"the access token has no {name} claim, which holds the account id here "
                "(GATEWAY_JWT_ACCOUNT_CLAIM)"
            )
        try:
            account = check_account(subject if isinstance(subject, str) else "",
                                    what="token subject")  # fmt: skip
        except BadUserInput as e:
            raise Unauthenticated(f"the access token's {name} is not an account id: {e}") from None
        return account, float(claims["exp"]) + self._leeway

    def _verification_key(self, token: str) -> Any:
        """The key to check ``token`` with: the configured one, or its ``kid``'s in the JWKS."""
        if self.key_set is None:
            return self._key
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise Unauthenticated(f"the access token is not valid: {e}") from None
        kid, algorithm = header.get("kid"), header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise Unauthenticated(
                f"the access token is not valid: its algorithm {algorithm!r} is not one of "
                f"{', '.join(self._algorithms)}"
            )
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("the access token is not valid: its kid is not a string")
        jwk = self.key_set.get(kid)
        if jwk is None:
            raise UnknownSigningKey(self.key_set.why_missing(kid))
        if jwk.get("alg", algorithm) != algorithm:
            raise Unauthenticated(
                f"the access token is not valid: its key (kid {kid!r}) is for {jwk['alg']}, "
                f"not {algorithm}"
            )
        # Parsed once per key set fetched (a fetch may change a key under the same kid).
        cache_key = (self.key_set.generation, str(jwk.get("kid")), algorithm)
        key = self._jwks_keys.get(cache_key)
        if key is None:
            try:
                key = jwt.PyJWK(jwk, algorithm=algorithm)
            except jwt.PyJWTError as e:
                raise Unauthenticated(f"the access token is not valid: {e}") from None
            self._jwks_keys[cache_key] = key
        return key


def claim_at(claims: object, path: str) -> object | None:
    """The claim at a dot-separated ``path`` (``app_metadata.nim_account``); a name that itself
    has dots, such as a namespaced claim (``https://example.com/claims``), is taken whole, the
    longest that leads somewhere first. None when there is no such claim."""
    if not isinstance(claims, dict):
        return None
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name not in claims:
            continue
        value: object = claims[name]
        if end == len(parts):
            return value
        found = claim_at(value, ".".join(parts[end:]))
        if found is not None:
            return found
    return None


def _named(algorithms: str | None) -> list[str]:
    return [a.strip() for a in (algorithms or "").split(",") if a.strip()]


# RFC 7519's NumericDate claims. PyJWT takes a string of digits, or 10^30, for a number.
_TIMES = ("exp", "nbf", "iat")
_LATEST_TIME = 253_402_300_799  # 9999-12-31T23:59:59Z


def _is_numeric_date(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value <= _LATEST_TIME  # False for NaN too
    )


def _why_not(algorithm: str, key: str) -> str | None:
    """Why tokens signed with ``algorithm`` cannot be verified with ``key``; None if they can."""
    if algorithm.lower() == "none":
        return "unsigned tokens are never accepted"
    try:
        jwt.get_algorithm_by_name(algorithm).prepare_key(key)
    except NotImplementedError:
        return "not an algorithm PyJWT knows"
    except (jwt.InvalidKeyError, ValueError, TypeError):
        return "the key is of another kind"
    return None


def issue_token(
    settings: Settings, account: str, *, ttl_seconds: int = 86400, now: float | None = None
) -> str:
    """A development token signed with ``GATEWAY_JWT_SECRET`` (HS256)."""
    if settings.jwt_secret is None:
        raise ConfigurationError("GATEWAY_JWT_SECRET is not set: cannot sign a token")
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {"sub": check_account(account), "iat": issued,
                                 "exp": issued + ttl_seconds}  # fmt: skip
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
