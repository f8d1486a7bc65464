"""NIM's signed callbacks: the message-CC webhook and the team registry.

Answers are JSON. Refusals (signature, replay) are 403, an oversize body 413, a database that is
away 503, each as ``{"error": {"code", "message"}}``; 200 means the change is durable, so NIM
retries anything else. A correctly signed CC body the gateway cannot use is answered 200 too (NIM
would retry it for ever) and kept as a dead letter (``gateway/dead_letters.py``); the registry's
unusable bodies are 400. The message CC is signed as NIM signs it; the registry, our own
endpoint, with a signature that covers the whole request and works once: the store remembers it
until its window closes, for every replica on the database (``domain/checksum.py``,
``SessionStore.claim_signature``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import dead_letters
from gateway.dead_letters import Refusal
from gateway.domain.checksum import Verifier
from gateway.domain.dead_letters import DEFAULT_LIMIT
from gateway.domain.events import Event, IgnoredEvent, RecallEvent, TeamMessageEvent
from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.sessions import Message, MessageType
from gateway.domain.teams import MemberChange, parse_member_change, team_key
from gateway.errors import BadEvent, GatewayError, Refused, StoreUnavailable
from gateway.ingest import MAX_EVENT_AHEAD_MS, Ingestor
from gateway.metrics import Metrics
from gateway.store.base import SessionStore

logger = logging.getLogger("gateway.webhook")

_PROBE: dict[str, object] = {}  # NIM checks an endpoint by posting an empty object
_MemberUpdate = Callable[[SessionKey, Sequence[str], int], Awaitable[int]]


class _TooLarge(GatewayError):
    code = "BODY_TOO_LARGE"


class NimWebhooks:
    def __init__(
        self,
        *,
        store: SessionStore,
        verifier: Verifier | None,
        clock: Callable[[], int],
        metrics: Metrics,
        max_body_bytes: int,
        max_event_ahead_ms: int = MAX_EVENT_AHEAD_MS,
        on_stored: Callable[[Message], None] | None = None,
        dead_letter_limit: int = DEFAULT_LIMIT,
    ) -> None:
        self._store = store
        self._ingestor = Ingestor(store, clock, on_stored=on_stored,
                                  max_ahead_ms=max_event_ahead_ms)  # fmt: skip
        self._verifier = verifier
        self._clock = clock
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._dead_letter_limit = dead_letter_limit

    def routes(self, cc_path: str) -> list[Route]:
        teams = "/nim/teams/{tid}/members"
        return [
            Route(cc_path, self.cc, methods=["POST"]),
            Route(teams, self.replace_members, methods=["PUT"]),
            Route(teams, self.list_members, methods=["GET"]),
            Route(teams + ":add", self.add_members, methods=["POST"]),
            Route(teams + ":remove", self.remove_members, methods=["POST"]),
        ]

    async def cc(self, request: Request) -> Response:
        try:
            body = await self._read(request)
            if _is_probe(body):
                self._count("probe", "ok")
                return _json({})
            assert self._verifier is not None
            self._verifier.verify(request.headers, body, self._clock())
        except GatewayError as e:
            self._count("unknown", _failure(e))
            return _error(e)
        try:
            event = self._ingestor.parse(body)
        except Exception as e:  # a BadEvent, or a bug: kept either way, and logged once
            return await self._dead_letter(request, body, Refusal.of(e))
        try:
            outcome = await self._ingestor.apply(event)
        except GatewayError as e:  # the database is away: NIM retries
            self._count(_event_label(event), _failure(e))
            return _error(e)
        except Exception:
            logger.exception("a webhook could not be applied")
            self._count(_event_label(event), "failed")
            return _internal_error()
        self._count(_event_label(event), outcome.value)
        if isinstance(event, TeamMessageEvent):
            for name in event.unusable:
                self._metrics.unusable_fields.labels(name).inc()
        if isinstance(event, IgnoredEvent) and event.reason != "other_event":
            self._metrics.skipped_messages.labels(event.reason, _msg_type_label(event)).inc()
        elif not isinstance(event, IgnoredEvent) and event.clamped:
            for name in event.clamped:
                self._metrics.clamped_times.labels(name).inc()
            logger.warning(
                "a CC event's %s was more than %d s ahead of this server's clock: kept as that",
                ", ".join(event.clamped), self._ingestor.max_ahead_ms // 1000,
            )  # fmt: skip
        return _json({"outcome": outcome.value})

    async def _dead_letter(self, request: Request, body: bytes, refusal: Refusal) -> Response:
        """Keep a signed body the gateway cannot use, and answer 200: NIM retries anything else,
        for ever. (A failure to keep it is a 503 or 500: NIM tries again.)"""
        try:
            letter_id = await dead_letters.keep(self._store, body, request.headers, refusal,
                                                self._clock(), self._dead_letter_limit)  # fmt: skip
        except GatewayError as e:
            self._count("unknown", _failure(e))
            return _error(e)
        except Exception:
            logger.exception("a dead letter could not be kept")
            self._count("unknown", "failed")
            return _internal_error()
        self._count(_body_label(body), "dead_letter")
        self._metrics.dead_letters.labels(refusal.reason).inc()
        return _json({"outcome": "dead_letter", "deadLetter": letter_id,
                      "error": {"code": refusal.reason, "message": refusal.detail}})  # fmt: skip

    async def replace_members(self, request: Request) -> Response:
        return await self._change_members(request, self._store.set_team_members)

    async def add_members(self, request: Request) -> Response:
        return await self._change_members(request, self._store.add_team_members)

    async def remove_members(self, request: Request) -> Response:
        return await self._change_members(request, self._store.remove_team_members)

    async def list_members(self, request: Request) -> Response:
        try:
            await self._verified_request(request)
            team = team_key(request.path_params["tid"], request.query_params.get("type", "TEAM"))
            members = await self._store.team_members(team)
        except GatewayError as e:
            return _error(e)
        return _json({"team": str(team), "members": members, "count": len(members)})

    async def _change_members(self, request: Request, update: _MemberUpdate) -> Response:
        try:
            document = _parse(await self._verified_request(request))
            change: MemberChange = parse_member_change(request.path_params["tid"], document)
            count = await update(change.team, change.members, self._clock())
        except GatewayError as e:
            self._count("team_members", _failure(e))
            return _error(e)
        except Exception:
            logger.exception("a team member change could not be applied")
            self._count("team_members", "failed")
            return _internal_error()
        self._count("team_members", "applied")
        return _json({"team": str(change.team), "count": count})

    async def _read(self, request: Request) -> bytes:
        if self._verifier is None:
            raise GatewayError(
                "the NIM webhooks are off: set GATEWAY_NIM_APP_SECRET", code="WEBHOOK_DISABLED"
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body_bytes:
            raise _TooLarge(f"the body is larger than {self._max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._max_body_bytes:
                raise _TooLarge(f"the body is larger than {self._max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _verified_request(self, request: Request) -> bytes:
        """The body of a registry request whose signature is good and used for the first time."""
        body = await self._read(request)
        assert self._verifier is not None
        now = self._clock()
        signature, expires_at = self._verifier.verify_request(
            request.method, request.scope["path"], request.scope["query_string"].decode("latin-1"),
            request.headers, body, now,
        )  # fmt: skip
        if not await self._store.claim_signature(signature, expires_at, now):
            raise Refused(
                "this signature was used already: sign every request afresh (new Nonce)",
                code="REPLAYED",
            )
        return body

    def _count(self, event_type: str, outcome: str) -> None:
        self._metrics.webhook_events.labels(event_type, outcome).inc()


def _parse(body: bytes) -> object:  # a registry request's body
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadEvent("the body is not JSON", code="BAD_JSON") from None


def _is_probe(body: bytes) -> bool:
    if len(body) > 16:
        return False
    try:
        return bool(orjson.loads(body) == _PROBE)
    except orjson.JSONDecodeError:
        return False


_EVENT_TYPES = {str(n) for n in range(1, 10)} | {"25"}


def _event_label(event: Event) -> str:
    # Bounded label values: NIM's event types 1-9 and 25, anything else is "other".
    if isinstance(event, IgnoredEvent):
        text = str(event.event_type)
    elif isinstance(event, RecallEvent):
        text = {SessionType.P2P: "7", SessionType.TEAM: "8"}.get(event.conversation.type, "25")
    else:
        text = "1"
    return text if text in _EVENT_TYPES else "other"


def _body_label(body: bytes) -> str:
    """The event type a body says it is, for a body that could not be read as an event."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "other"
    text = str(document.get("eventType")) if isinstance(document, dict) else ""
    return text if text in _EVENT_TYPES else "other"


def _msg_type_label(event: IgnoredEvent) -> str:
    # Bounded label values: NIM's documented names, anything else is "other".
    return event.label if event.label in _KNOWN_LABELS else "other"


_KNOWN_LABELS = frozenset({
    *(t.value for t in MessageType), "NRTC_NETCALL", "FRIEND_ADD", "FRIEND_DELETE",
    "CUSTOM_P2P_MSG", "TEAM_APPLY", "TEAM_APPLY_REJECT", "TEAM_INVITE", "TEAM_INVITE_REJECT",
    "CUSTOM_TEAM_MSG", "SUPERTEAM_APPLY", "SUPERTEAM_APPLY_REJECT", "SUPERTEAM_INVITE",
    "SUPERTEAM_INVITE_REJECT", "CUSTOM_SUPERTEAM_MSG", "CUSTOM_SUPER_TEAM",
})  # fmt: skip
_STATUS = {"BODY_TOO_LARGE": 413, "WEBHOOK_DISABLED": 503, "STORE_UNAVAILABLE": 503}


def _failure(error: GatewayError) -> str:
    """The outcome label of a request that ``error`` ended."""
    if isinstance(error, StoreUnavailable):
        return "unavailable"
    return "refused" if isinstance(error, Refused) else "rejected"


def _error(error: GatewayError) -> Response:
    status = 403 if isinstance(error, Refused) else _STATUS.get(error.code, 400)
    return _json({"error": {"code": error.code, "message": error.message}}, status)


def _internal_error() -> Response:
    body = {"error": {"code": "INTERNAL_SERVER_ERROR", "message": "the event was not applied"}}
    return _json(body, 500)


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
