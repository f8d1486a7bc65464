"""Signatures of signed callbacks: NIM's CheckSum for the message CC, ours for the team registry.

NIM's (``/nim/cc``): ``MD5`` is the hex MD5 of the raw body; ``CheckSum`` is the hex SHA-1 of
``AppSecret + MD5 + CurTime``. It covers the body and the time only, which is all NIM signs.

The team registry's (``/nim/teams/...``, our own endpoint): ``CheckSum`` is the hex
HMAC-SHA256, keyed with the app secret, of the request's method, path, query, body MD5, CurTime
and a ``Nonce``, one per line (see :func:`registry_string`), so a signature is good for one
request only; the webhook refuses it a second time within its window (the store remembers it:
``SessionStore.claim_signature``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from gateway.domain.fields import is_ascii_digits
from gateway.errors import Refused

# CurTime in seconds is below this; in milliseconds above it (NIM has used both).
_SECONDS_BEFORE = 100_000_000_000
_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_SHA1 = re.compile(r"[0-9a-fA-F]{40}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_HEADER_NAMES = {"md5": "MD5", "curtime": "CurTime", "nonce": "Nonce", "checksum": "CheckSum"}


def body_md5(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def checksum(app_secret: str, md5: str, cur_time: str) -> str:
    return hashlib.sha1((app_secret + md5 + cur_time).encode(), usedforsecurity=False).hexdigest()


def sign(app_secret: str, body: bytes, now_ms: int) -> dict[str, str]:
    """The headers NIM sends with ``body``: for tests, tools and the README's examples."""
    md5 = body_md5(body)
    cur_time = str(now_ms)
    return {"MD5": md5, "CurTime": cur_time, "CheckSum": checksum(app_secret, md5, cur_time)}


def registry_string(method: str, path: str, query: str, md5: str, cur_time: str, nonce: str) -> str:
    """What a team-registry signature covers: ``path`` percent-decoded, ``query`` as sent."""
    return "\n".join([method.upper(), path, query, md5.lower(), cur_time, nonce])


def registry_checksum(app_secret: str, signed: str) -> str:
    return hmac.new(app_secret.encode(), signed.encode(), hashlib.sha256).hexdigest()


def sign_request(
    app_secret: str, method: str, target: str, body: bytes, now_ms: int, nonce: str | None = None
) -> dict[str, str]:
    """The headers of a team-registry request to ``target`` (a path, with its query if any)."""
    path, _, query = target.partition("?")
    md5, cur_time, nonce = body_md5(body), str(now_ms), nonce or secrets.token_hex(16)
    signed = registry_string(method, unquote(path), query, md5, cur_time, nonce)
    return {"MD5": md5, "CurTime": cur_time, "Nonce": nonce,
            "CheckSum": registry_checksum(app_secret, signed)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verifier:
    app_secret: str
    max_skew_ms: int = 300_000
    app_key: str | None = None

    def verify(self, headers: Mapping[str, str], body: bytes, now_ms: int) -> None:
        """Raise :class:`Refused` unless ``headers`` sign ``body`` as NIM does and are recent."""
        md5, cur_time, given = _required(headers, "md5", "curtime", "checksum")
        self._check_app_key(headers)
        _check_md5(md5, body)
        expected = checksum(self.app_secret, md5, cur_time)
        if not (_SHA1.fullmatch(given) and hmac.compare_digest(given.lower(), expected)):
            raise Refused("the CheckSum does not match: check the app secret", code="BAD_CHECKSUM")
        self._check_time(cur_time, now_ms)

    def verify_request(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
        now_ms: int,
    ) -> tuple[str, int]:  # fmt: skip
        """Raise :class:`Refused` unless ``headers`` sign this registry request and are recent;
        else the signature and the time (ms) until which it could be replayed."""
        md5, cur_time, nonce, given = _required(headers, "md5", "curtime", "nonce", "checksum")
        self._check_app_key(headers)
        _check_md5(md5, body)
        if not _NONCE.fullmatch(nonce):
            raise Refused("the Nonce must be 16 to 64 of A-Z a-z 0-9 _ -", code="BAD_NONCE")
        signed = registry_string(method, path, query, md5, cur_time, nonce)
        expected = registry_checksum(self.app_secret, signed)
        if not (_SHA256.fullmatch(given) and hmac.compare_digest(given.lower(), expected)):
            raise Refused(
                "the CheckSum does not sign this method, path, query and body with the app "
                "secret (see docs/api.md)",
                code="BAD_CHECKSUM",
            )
        return expected, self._check_time(cur_time, now_ms) + self.max_skew_ms

    def _check_app_key(self, headers: Mapping[str, str]) -> None:
        if self.app_key is not None and headers.get("appkey", self.app_key) != self.app_key:
            raise Refused("the AppKey header names another app", code="BAD_APP_KEY")

    def _check_time(self, cur_time: str, now_ms: int) -> int:
        if not is_ascii_digits(cur_time):
            raise Refused("CurTime is not a number", code="STALE_CURTIME")
        stamp = int(cur_time)
        stamp_ms = stamp * 1000 if stamp < _SECONDS_BEFORE else stamp
        if abs(now_ms - stamp_ms) > self.max_skew_ms:
            raise Refused(
                f"CurTime is more than {self.max_skew_ms // 1000} s from the server's clock "
                "(a replay, or a clock that is off)",
                code="STALE_CURTIME",
            )
        return stamp_ms


def _required(headers: Mapping[str, str], *names: str) -> list[str]:
    values = [headers.get(name, "") for name in names]
    if not all(values):
        listed = ", ".join(_HEADER_NAMES[name] for name in names)
        raise Refused(f"the headers {listed} are required", code="MISSING_SIGNATURE")
    return values


def _check_md5(md5: str, body: bytes) -> None:
    # Headers arrive as latin-1 text: compare only what is plain hex (compare_digest refuses
    # non-ASCII text with a TypeError).
    if not (_MD5.fullmatch(md5) and hmac.compare_digest(md5.lower(), body_md5(body))):
        raise Refused("the MD5 header is not the MD5 of the body", code="BAD_MD5")
