"""CORS whose refusals say how to allow the origin: a browser app on another origin gets its
preflight refused (400) with a body, and a log line, that name GATEWAY_ALLOWED_ORIGINS.

A request without an ``Origin`` (same-origin, or not from a browser) takes a short way: its
response gets the one header Starlette's middleware gives it, ``Vary: Origin``, without parsing
the request's headers into a ``Headers`` and the response's into a ``MutableHeaders`` (about
8 us of a page's request)."""

from __future__ import annotations

import logging

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

logger = logging.getLogger("gateway")


class HintingCORSMiddleware(CORSMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(name == b"origin" for name, _ in scope["headers"]):

            async def varying(message: Message) -> None:
                if message["type"] == "http.response.start":
                    _vary_by_origin(message)
                await send(message)

            await self.app(scope, receive, varying)
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400 or self.is_allowed_origin(request_headers["origin"]):
            return response
        origin = request_headers["origin"]
        hint = (
            f"Disallowed CORS origin {origin}: set GATEWAY_ALLOWED_ORIGINS={origin} (comma-"
            "separated, or * for any) where the gateway runs, and restart it"
        )
        logger.warning("refused a cross-origin request: %s", hint)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return PlainTextResponse(hint, status_code=400, headers=headers)


def _vary_by_origin(message: Message) -> None:
    """``Vary: Origin`` added to a response head, as Starlette's ``send`` adds it to a response
    to a request without an ``Origin`` (merged into a ``Vary`` the response has)."""
    headers = message.get("headers")
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers or ())
    if any(name.lower() == b"vary" for name, _ in headers):
        mutable = MutableHeaders(scope=message)
        mutable["Vary"] = ", ".join([*mutable.getlist("Vary"), "Origin"])
    else:
        headers.append((b"vary", b"Origin"))
