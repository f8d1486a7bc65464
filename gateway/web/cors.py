"""CORS whose refusals say how to allow the origin: a browser app on another origin gets its
preflight refused (400) with a body, and a log line, that name GATEWAY_ALLOWED_ORIGINS."""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response

logger = logging.getLogger("gateway")


class HintingCORSMiddleware(CORSMiddleware):
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
