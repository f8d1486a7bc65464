"""Sign-in from an identity provider: tokens checked with the keys its JWKS URL publishes (served
here by a real local HTTP server), fetched again when a token names a key they lack (a
rotation), at most once a minute; the account in a configured claim; clock skew allowed."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr

from gateway.auth import Authenticator, claim_at
from gateway.errors import ConfigurationError, Unauthenticated
from gateway.jwks import KeySet, _signing_keys
from gateway.settings import Settings
from gateway.store import SqliteStore
from gateway.web.app import create_app
from tests.helpers import GraphQLClient
from tests.process import gateway
from tests.ws import GraphQLSocket

ISSUER = "https://id.example.com/"


class Provider:
    """An identity provider's signing keys, published as a JWK Set over HTTP on loopback."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}  # kid -> private key
        self.published: list[str] = []
        self.fetches = 0
        self.status = 200
        self.delay_s = 0.0
        self.lock = threading.Lock()
        self.new_key("key-1")

    def new_key(self, kid: str, *, kind: str = "RSA") -> None:
        self.keys[kid] = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if kind == "RSA"
            else ec.generate_private_key(ec.SECP256R1())
        )

    def publish(self, *kids: str) -> None:
        with self.lock:
            self.published = list(kids)

    def jwks(self) -> bytes:
        with self.lock:
            keys = []
            for kid in self.published:
                private = self.keys[kid]
                algorithm = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
                jwk = json.loads(jwt.get_algorithm_by_name(algorithm).to_jwk(private.public_key()))
                keys.append({**jwk, "kid": kid, "use": "sig", "alg": algorithm})
            return json.dumps({"keys": keys}).encode()

    def token(self, kid: str, **claims: Any) -> str:
        private = self.keys[kid]
        algorithm = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
        body = {"sub": "alice", "iss": ISSUER, "exp": int(time.time()) + 300, **claims}
        return jwt.encode(body, private, algorithm=algorithm, headers={"kid": kid})


@contextmanager
def serving(idp: Provider) -> Iterator[str]:
    """``idp``'s JWK Set served over HTTP on loopback, in a thread: its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with idp.lock:
                idp.fetches += 1
            time.sleep(idp.delay_s)  # a slow provider (its own thread: the gateway's loop runs)
            body = idp.jwks() if idp.status == 200 else b"unavailable"
            self.send_response(idp.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    idp = Provider()
    idp.publish("key-1")
    with serving(idp) as url:
        yield idp, url


def settings_with(url: str, **overrides: Any) -> Settings:
    return Settings(
        jwt_jwks_url=url, jwt_issuer=ISSUER, cursor_secret=SecretStr("c" * 32),
        rate_limit_reads_per_minute=0, rate_limit_anonymous_per_minute=0, **overrides,
    )  # fmt: skip


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    async with SqliteStore(tmp_path / "gw.db", readers=1) as store:
        yield store


async def viewer(http: httpx.AsyncClient, token: str) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of a query that needs a signed-in viewer."""
    response = await http.post(
        "/graphql", json={"query": "{ totalUnreadCount }"},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    body: dict[str, Any] = response.json()
    return response.status_code, body


def client(settings: Settings, store: Any) -> httpx.AsyncClient:
    app = create_app(settings, store=store)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def test_a_token_the_provider_signed_signs_in(
    provider: tuple[Provider, str], store: Any
) -> None:
    idp, url = provider
    async with client(settings_with(url), store) as http:
        data = await GraphQLClient(http, idp.token("key-1")).ok("{ totalUnreadCount }")
    assert data == {"totalUnreadCount": 0}
    assert idp.fetches == 1


async def test_a_rotated_key_is_fetched_when_a_token_names_it(
    provider: tuple[Provider, str], store: Any
) -> None:
    idp, url = provider
    # A real provider publishes a new key well before it signs with it; here it signs at once.
    async with client(settings_with(url, jwt_jwks_min_refresh_s=0), store) as http:
        assert "errors" not in (await viewer(http, idp.token("key-1")))[1]
        idp.new_key("key-2", kind="EC")
        idp.publish("key-2")  # the provider rotates: key-1 is gone, key-2 signs from now on
        for _ in range(3):
            assert "errors" not in (await viewer(http, idp.token("key-2")))[1]
    assert idp.fetches == 2  # once at first, once for key-2: then it was known


async def test_an_unknown_kid_is_unauthenticated_never_a_server_error(
    provider: tuple[Provider, str], store: Any
) -> None:
    idp, url = provider
    idp.new_key("forged")  # signs, but the provider never publishes it
    async with client(settings_with(url), store) as http:
        assert "errors" not in (await viewer(http, idp.token("key-1")))[1]
        answers = [await viewer(http, idp.token("forged", sub=f"a{n}")) for n in range(5)]
    for status, body in answers:
        assert status == 200
        [error] = body["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "'forged'" in error["message"]
        assert url in error["message"]
    assert idp.fetches == 1  # fetched for key-1 less than a minute ago: not again, for any kid


async def test_keys_are_fetched_again_at_most_once_a_minute(
    provider: tuple[Provider, str],
) -> None:
    idp, url = provider
    now = [1000.0]
    keys = KeySet(url, min_refresh_s=60, clock=lambda: now[0])
    await keys.refresh()
    idp.new_key("key-2")
    idp.publish("key-2")
    await asyncio.gather(*(keys.refresh() for _ in range(10)))  # 59 s on: not again
    now[0] += 59
    await keys.refresh()
    assert (idp.fetches, keys.get("key-2")) == (1, None)
    now[0] += 2
    await asyncio.gather(*(keys.refresh() for _ in range(10)))  # concurrent: one fetch
    assert idp.fetches == 2
    assert keys.get("key-2") is not None


async def test_the_provider_down_keeps_the_known_keys_working_and_says_why(
    provider: tuple[Provider, str], store: Any
) -> None:
    idp, url = provider
    async with client(settings_with(url, jwt_jwks_min_refresh_s=0), store) as http:
        assert "errors" not in (await viewer(http, idp.token("key-1")))[1]
        idp.status = 503
        idp.new_key("key-2")
        assert "errors" not in (await viewer(http, idp.token("key-1", sub="bob")))[1]
        status, body = await viewer(http, idp.token("key-2"))
    assert status == 200
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "could not be fetched" in error["message"]
    assert "answered 503" in error["message"]


async def test_a_provider_that_does_not_answer_in_time_is_a_clear_error(
    provider: tuple[Provider, str], store: Any
) -> None:
    idp, url = provider
    idp.delay_s = 2
    settings = settings_with(url, jwt_jwks_timeout_s=0.2)
    async with client(settings, store) as http:
        # The loop is not blocked while the fetch waits: other requests are answered.
        waiting = asyncio.create_task(viewer(http, idp.token("key-1")))
        health = await http.get("/healthz")
        status, body = await waiting
    assert health.status_code == 200
    assert not waiting.cancelled()
    assert status == 200
    assert "no answer in time" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("claim", "claims"),
    [
        ("https://example.com/claims.chat_account",
         {"https://example.com/claims": {"chat_account": "carol"}}),
        ("https://example.com/chat_account", {"https://example.com/chat_account": "carol"}),
        ("app_metadata.nim_account", {"app_metadata": {"nim_account": "carol"}}),
    ],
    ids=["namespaced-object", "namespaced-name", "nested"],
)  # fmt: skip
async def test_the_account_can_be_in_a_custom_claim(
    provider: tuple[Provider, str], store: Any, claim: str, claims: dict[str, Any]
) -> None:
    idp, url = provider
    auth = Authenticator(settings_with(url, jwt_account_claim=claim))
    token = idp.token("key-1", sub="auth0|65f0c2", **claims)
    assert await auth.authenticated(f"Bearer {token}") == "carol"
    with pytest.raises(Unauthenticated, match=f"no {claim} claim"):
        await auth.authenticated(f"Bearer {idp.token('key-1')}")


async def test_clock_skew_is_allowed_as_configured(provider: tuple[Provider, str]) -> None:
    idp, url = provider
    late = idp.token("key-1", exp=int(time.time()) - 20)
    assert (
        await Authenticator(settings_with(url, jwt_clock_skew_s=60)).authenticated(f"Bearer {late}")
        == "alice"
    )
    with pytest.raises(Unauthenticated, match="expired"):
        await Authenticator(settings_with(url)).authenticated(f"Bearer {late}")


async def test_a_websocket_signs_in_with_a_providers_token(
    provider: tuple[Provider, str], tmp_path: Path, free_port: int
) -> None:
    idp, url = provider
    env = {"GATEWAY_JWT_JWKS_URL": url, "GATEWAY_JWT_ISSUER": ISSUER,
           "GATEWAY_CURSOR_SECRET": "c" * 32, "GATEWAY_JWT_JWKS_MIN_REFRESH_S": "0"}  # fmt: skip
    with gateway("serve", "--db", str(tmp_path / "gw.db"), "--port", str(free_port),
                 env=env) as server:  # fmt: skip
        server.wait_for("Application startup complete")
        assert any("fetched 1 signing keys" in line for line in server.output)
        idp.new_key("key-2")
        idp.publish("key-1", "key-2")
        socket = await GraphQLSocket.connect(f"ws://127.0.0.1:{free_port}/graphql",
                                             idp.token("key-2"))  # fmt: skip
        try:
            await socket.subscribe("subscription { unreadCount }")
            assert (await socket.next_data()) == {"unreadCount": 0}
        finally:
            await socket.close()


def test_symmetric_keys_in_a_jwks_are_never_used() -> None:
    oct_key = {"kty": "oct", "k": "c2VjcmV0", "kid": "shared"}
    with pytest.raises(ValueError, match="no RSA, EC or OKP"):
        _signing_keys({"keys": [oct_key]})


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"jwt_secret": SecretStr("s" * 32)}, "set only one"),
        ({"cursor_secret": None}, "GATEWAY_CURSOR_SECRET"),
        ({"jwt_algorithms": "HS256"}, "asymmetric"),
    ],
    ids=["with-a-secret", "no-cursor-secret", "symmetric-algorithm"],
)
def test_a_jwks_setup_that_cannot_work_is_refused_at_start(
    overrides: dict[str, Any], says: str
) -> None:
    settings = settings_with("https://id.example.com/jwks").model_copy(update=overrides)
    with pytest.raises(ConfigurationError, match=says):
        Authenticator(settings)


def test_claim_paths() -> None:
    claims = {"a": {"b.c": {"d": "x"}}, "a.b": "y", "n": 1}
    assert claim_at(claims, "a.b.c.d") == "x"  # "a.b" is there, but leads nowhere further
    assert claim_at(claims, "a.b") == "y"
    assert claim_at(claims, "n.x") is None
    assert claim_at(claims, "missing") is None
