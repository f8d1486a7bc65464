"""The anonymous budget: a request without a valid token spends a token of its client address's
bucket (``RateLimiter``'s "anonymous" kind) before its body is even read, and an empty bucket
answers 429 RATE_LIMITED with when to retry. The address is the peer's, or, behind a trusted
proxy, the one its X-Forwarded-For names (uvicorn's ProxyHeadersMiddleware, in front).
Accounts spend their own buckets, once per operation (``GatewaySchema``: schema/__init__.py)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from gateway.schema.limits import RateLimiter
from gateway.web.limits import Refused
from gateway.web.status import error_response


class AnonymousBudget:
    def __init__(self, limiter: RateLimiter | None, refused: Refused) -> None:
        self._limiter = limiter
        self._refused = refused

    def refusal(self, scope: Scope) -> Response | None:
        """Spends a token of the client address's bucket: None when allowed, else the 429."""
        if self._limiter is None:
            return None
        client = scope.get("client")
        address = client[0] if client else "unknown"
        wait = self._limiter.take(address, "anonymous")
        if wait is None:
            return None
        self._refused("RATE_LIMITED")
        retry_after = max(1, round(wait + 0.5))
        message = f"too many requests without a token from this address: retry in {retry_after} s"
        response = error_response(429, "RATE_LIMITED", message, retryAfter=retry_after)
        response.headers["Retry-After"] = str(retry_after)
        return response
