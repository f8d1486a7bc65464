"""NIM's CheckSum scheme for signed callbacks.

``MD5`` is the hex MD5 of the raw body; ``CheckSum`` is the hex SHA-1 of
``AppSecret + MD5 + CurTime``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import Refused

# CurTime in seconds is below this; in milliseconds above it (NIM has used both).
_SECONDS_BEFORE = 100_000_000_000


def body_md5(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def checksum(app_secret: str, md5: str, cur_time: str) -> str:
    return hashlib.sha1((app_secret + md5 + cur_time).encode(), usedforsecurity=False).hexdigest()


def sign(app_secret: str, body: bytes, now_ms: int) -> dict[str, str]:
    """The headers NIM sends with ``body``: for tests, tools and the README's examples."""
    md5 = body_md5(body)
    cur_time = str(now_ms)
    return {"MD5": md5, "CurTime": cur_time, "CheckSum": checksum(app_secret, md5, cur_time)}


@dataclass(frozen=True, slots=True)
class Verifier:
    app_secret: str
    max_skew_ms: int = 300_000
    app_key: str | None = None

    def verify(self, headers: Mapping[str, str], body: bytes, now_ms: int) -> None:
        """Raise :class:`Refused` unless ``headers`` sign ``body`` and are recent."""
        md5, cur_time, given = headers.get("md5"), headers.get("curtime"), headers.get("checksum")
        if not (md5 and cur_time and given):
            raise Refused("the MD5, CurTime and CheckSum headers are required",
                          code="MISSING_SIGNATURE")  # fmt: skip
        if self.app_key is not None and headers.get("appkey", self.app_key) != self.app_key:
            raise Refused("the AppKey header names another app", code="BAD_APP_KEY")
        if not hmac.compare_digest(md5.lower(), body_md5(body)):
            raise Refused("the MD5 header is not the MD5 of the body", code="BAD_MD5")
        expected = checksum(self.app_secret, md5, cur_time)
        if not hmac.compare_digest(given.lower(), expected):
            raise Refused("the CheckSum does not match: check the app secret", code="BAD_CHECKSUM")
        try:
            stamp = int(cur_time)
        except ValueError:
            raise Refused("CurTime is not a number", code="STALE_CURTIME") from None
        stamp_ms = stamp * 1000 if stamp < _SECONDS_BEFORE else stamp
        if abs(now_ms - stamp_ms) > self.max_skew_ms:
            raise Refused(
                f"CurTime is more than {self.max_skew_ms // 1000} s from the server's clock "
                "(a replay, or a clock that is off)",
                code="STALE_CURTIME",
            )
