"""web/cors.py: the gateway's CORS answers every request as Starlette's CORSMiddleware does (it
only adds a hint to refused preflights), the requests without an Origin included, which it
answers by a shorter way."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

from gateway.web.cors import HintingCORSMiddleware

RESPONSE_HEADERS = {
    "none": [],
    "plain": [(b"content-type", b"application/json")],
    "varying": [(b"content-type", b"text/html"), (b"vary", b"Accept-Encoding")],
    "varying twice": [(b"Vary", b"Accept"), (b"vary", b"Cookie")],
}
REQUEST_HEADERS = {
    "no origin": [(b"host", b"gateway")],
    "allowed origin": [(b"origin", b"https://app.example")],
    "other origin": [(b"origin", b"https://evil.example")],
    "origin and cookie": [(b"origin", b"https://app.example"), (b"cookie", b"a=1")],
}


def responding(headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def head_of(middleware: Any, request: list[tuple[bytes, bytes]]) -> list[Any]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": request}
    await middleware(scope, receive, send)
    return [(m["type"], m.get("status"), m.get("headers")) for m in sent]


@pytest.mark.parametrize("request_headers", REQUEST_HEADERS.values(), ids=REQUEST_HEADERS.keys())
@pytest.mark.parametrize("response_headers", RESPONSE_HEADERS.values(), ids=RESPONSE_HEADERS.keys())
@pytest.mark.parametrize("origins", [["https://app.example"], ["*"]], ids=["listed", "any"])
async def test_each_response_head_is_starlettes(
    request_headers: list[tuple[bytes, bytes]],
    response_headers: list[tuple[bytes, bytes]],
    origins: list[str],
) -> None:
    app = responding(response_headers)
    options: dict[str, Any] = {"allow_origins": origins, "allow_methods": ["GET", "POST"]}
    ours = await head_of(HintingCORSMiddleware(app, **options), request_headers)
    starlettes = await head_of(CORSMiddleware(app, **options), request_headers)
    assert ours == starlettes
