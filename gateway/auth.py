"""Bearer JWTs: ``sub`` is the account id, ``exp`` is required."""

from __future__ import annotations

import time

import jwt

from gateway.domain.keys import check_account
from gateway.errors import BadUserInput, ConfigurationError, Unauthenticated
from gateway.settings import Settings

_ASYMMETRIC = ["RS256", "ES256"]


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        settings.check_auth()
        public_key = settings.public_key()
        if settings.jwt_secret is not None:
            self._key: str = settings.jwt_secret.get_secret_value()
            default_algorithms = ["HS256"]
        else:
            assert public_key is not None
            self._key = public_key
            default_algorithms = _ASYMMETRIC
        self._algorithms = (
            [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
            if settings.jwt_algorithms
            else default_algorithms
        )
        if "none" in (a.lower() for a in self._algorithms):
            raise ConfigurationError("GATEWAY_JWT_ALGORITHMS may not allow 'none'")
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def authenticate(self, authorization: str | None) -> str:
        """The account id of a valid ``Authorization: Bearer`` header."""
        if not authorization:
            raise Unauthenticated("no access token: send 'Authorization: Bearer <JWT>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <JWT>'")
        try:
            claims = jwt.decode(
                token.strip(),
                self._key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired") from None
        except jwt.InvalidTokenError as e:
            raise Unauthenticated(f"the access token is not valid: {e}") from None
        subject = claims["sub"]
        try:
            return check_account(subject if isinstance(subject, str) else "", what="token subject")
        except BadUserInput as e:
            raise Unauthenticated(f"the access token's sub is not an account id: {e}") from None


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
