"""Bearer JWTs: ``sub`` is the account id, ``exp`` is required; ``exp``, ``nbf`` and ``iat``
are JSON numbers of seconds since 1970, up to the year 9999.

A verified token is remembered (a bounded LRU keyed by the token's text) with its account and
expiry, so a client that sends the same token on every request pays one signature check, not
one per request; a remembered token is refused from its ``exp`` on, as PyJWT would refuse it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
from cachetools import LRUCache

from gateway.domain.keys import check_account
from gateway.errors import BadUserInput, ConfigurationError, Unauthenticated
from gateway.settings import Settings

# Without GATEWAY_JWT_ALGORITHMS: HS256 for a secret; for a public key, whichever of these
# its type (RSA or EC) can verify.
_FOR_SECRET: tuple[str, ...] = ("HS256",)
_FOR_PUBLIC_KEY: tuple[str, ...] = ("RS256", "ES256")


class Authenticator:
    def __init__(
        self,
        settings: Settings,
        *,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings.check_auth()
        if settings.jwt_secret is not None:
            key, key_setting = settings.jwt_secret.get_secret_value(), "GATEWAY_JWT_SECRET"
            defaults = _FOR_SECRET
        else:
            public_key = settings.public_key()
            assert public_key is not None
            key, key_setting = public_key, "GATEWAY_JWT_PUBLIC_KEY"
            defaults = _FOR_PUBLIC_KEY
        named = [a.strip() for a in (settings.jwt_algorithms or "").split(",") if a.strip()]
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
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._clock = clock
        self._verified: LRUCache[str, tuple[str, float]] = LRUCache(maxsize=cache_size)

    def authenticate(self, authorization: str | None) -> str:
        """The account id of a valid ``Authorization: Bearer`` header."""
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
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
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
        subject = claims["sub"]
        try:
            account = check_account(subject if isinstance(subject, str) else "",
                                    what="token subject")  # fmt: skip
        except BadUserInput as e:
            raise Unauthenticated(f"the access token's sub is not an account id: {e}") from None
        return account, float(claims["exp"])


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
