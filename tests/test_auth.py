"""Bearer JWTs: every data field needs one; GraphiQL and introspection do not."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import SecretStr

from gateway.auth import Authenticator
from gateway.errors import ConfigurationError, Unauthenticated
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.helpers import SECRET, GraphQLClient

DATA_FIELDS = [
    "{ sessions { totalCount } }",
    '{ session(id: "p2p|bob") { key } }',
    '{ node(id: "p2p|bob") { id } }',
    'mutation { updateSessionExt(input: {id: "p2p|bob", ext: ""}) { session { key } } }',
    'mutation { deleteSessions(input: {ids: ["p2p|bob"]}) { deletedIds } }',
]


def claims(**overrides: object) -> dict[str, object]:
    return {"sub": "alice", "exp": int(time.time()) + 60, **overrides}


@pytest.mark.parametrize("query", DATA_FIELDS)
async def test_every_data_field_needs_a_token(anonymous: GraphQLClient, query: str) -> None:
    result = await anonymous(query)
    assert result.codes == ["UNAUTHENTICATED"]
    assert not any((result.data or {}).values())


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256"),
        jwt.encode(claims(), "another-secret-another-secret-123", algorithm="HS256"),
        jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"),  # no exp
        jwt.encode(claims(sub=""), SECRET, algorithm="HS256"),
        jwt.encode(claims(sub=42), SECRET, algorithm="HS256"),
        jwt.encode(claims(), "", algorithm="none"),
        "not.a.jwt",
    ],
    ids=["expired", "wrong-key", "no-exp", "empty-sub", "numeric-sub", "alg-none", "garbage"],
)
async def test_bad_tokens_are_unauthenticated(http: httpx.AsyncClient, token: str) -> None:
    result = await GraphQLClient(http, token)("{ sessions { totalCount } }")
    assert result.codes == ["UNAUTHENTICATED"]
    assert SECRET not in str(result.errors)


IN_A_MINUTE = int(time.time()) + 60
NOT_NUMERIC_DATES = {
    "exp-digits": {"exp": str(IN_A_MINUTE)}, "exp-10^30": {"exp": 10**30},
    "exp-1e300": {"exp": 1e300}, "exp-nan": {"exp": float("nan")}, "exp-true": {"exp": True},
    "exp-negative": {"exp": -1}, "nbf-digits": {"nbf": "0"}, "nbf-10^30": {"nbf": 10**30},
    "iat-digits": {"iat": "0"}, "iat-list": {"iat": [0]}, "iat-negative": {"iat": -5},
}  # fmt: skip


@pytest.mark.parametrize("times", NOT_NUMERIC_DATES.values(), ids=NOT_NUMERIC_DATES.keys())
async def test_token_times_that_are_not_numbers_in_range_are_unauthenticated(
    http: httpx.AsyncClient, times: dict[str, object]
) -> None:
    token = jwt.encode(claims(**times), SECRET, algorithm="HS256")
    result = await GraphQLClient(http, token)("{ sessions { totalCount } }")
    assert result.codes == ["UNAUTHENTICATED"]
    [claim] = times
    assert claim in result.errors[0]["message"]  # ours, or PyJWT's, names the claim


async def test_token_times_as_numbers_in_range_are_accepted(http: httpx.AsyncClient) -> None:
    in_a_minute = int(time.time()) + 60  # from now: collecting the suite may take longer
    times = {"exp": in_a_minute + 0.5, "nbf": 0, "iat": float(in_a_minute - 60)}
    token = jwt.encode(claims(**times), SECRET, algorithm="HS256")
    result = await GraphQLClient(http, token)("{ sessions { totalCount } }")
    assert result.errors == []


async def test_a_non_bearer_header_is_unauthenticated(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": "{ sessions { totalCount } }"},
                               headers={"Authorization": "Basic YWxpY2U6cHc="})  # fmt: skip
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_introspection_works_without_a_token(anonymous: GraphQLClient) -> None:
    data = await anonymous.ok(
        '{ __schema { queryType { name } } __type(name: "Session") { name } }'
    )
    assert data == {"__schema": {"queryType": {"name": "Query"}}, "__type": {"name": "Session"}}


async def test_graphiql_is_served_without_a_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_issuer_and_audience_are_checked_when_configured() -> None:
    settings = Settings(jwt_secret=SecretStr(SECRET), jwt_issuer="https://id.example",
                        jwt_audience="gateway")  # fmt: skip
    auth = Authenticator(settings)
    good = claims(iss="https://id.example", aud="gateway")
    assert auth.authenticate("Bearer " + jwt.encode(good, SECRET, algorithm="HS256")) == "alice"
    for bad in (claims(iss="https://evil", aud="gateway"), claims(iss="https://id.example"),
                claims(iss="https://id.example", aud="other")):  # fmt: skip
        with pytest.raises(Unauthenticated):
            auth.authenticate("Bearer " + jwt.encode(bad, SECRET, algorithm="HS256"))


KeyPair = Callable[[], tuple[object, str]]


def rsa_pair() -> tuple[object, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, _pem(key.public_key())


def ec_pair() -> tuple[object, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, _pem(key.public_key())


def _pem(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize(("pair", "algorithm"), [(rsa_pair, "RS256"), (ec_pair, "ES256")])
def test_public_key_tokens_are_verified(pair: KeyPair, algorithm: str, tmp_path: object) -> None:
    private_key, public_pem = pair()
    auth = Authenticator(Settings(jwt_public_key=public_pem))
    token = jwt.encode(claims(), private_key, algorithm=algorithm)  # type: ignore[arg-type]
    assert auth.authenticate(f"Bearer {token}") == "alice"
    # An HS256 token "signed" with the public key itself must not pass (key confusion).
    forged = jwt.encode(claims(), "x" * 32, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        auth.authenticate(f"Bearer {forged}")


def test_a_public_key_can_come_from_a_file(tmp_path: object) -> None:
    from pathlib import Path

    private_key, public_pem = rsa_pair()
    path = Path(str(tmp_path)) / "key.pem"
    path.write_text(public_pem)
    auth = Authenticator(Settings(jwt_public_key=str(path)))
    token = jwt.encode(claims(), private_key, algorithm="RS256")  # type: ignore[arg-type]
    assert auth.authenticate(f"Bearer {token}") == "alice"


def test_no_key_at_all_is_a_start_up_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    monkeypatch.delenv("GATEWAY_JWT_PUBLIC_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="GATEWAY_JWT_SECRET"):
        Authenticator(Settings())


def _secret_settings(algorithms: str | None = None) -> Settings:
    return Settings(jwt_secret=SecretStr(SECRET), jwt_algorithms=algorithms)


@pytest.mark.parametrize(
    ("key", "algorithms", "named"),
    [
        ("rsa", "RS256,HS256", "HS256"),
        ("secret", "HS256,RS256", "RS256"),
        ("rsa", "ES256", "ES256"),  # the right family, but not this key's type
        ("ec", "RS256", "RS256"),
        ("secret", "HS256,HS999", "HS999"),
    ],
    ids=[
        "public-key-with-hs256",
        "secret-with-rs256",
        "rsa-key-with-es256",
        "ec-key-with-rs256",
        "unknown-algorithm",
    ],
)
def test_algorithms_the_key_cannot_verify_are_a_start_up_error(
    key: str, algorithms: str, named: str
) -> None:
    if key == "secret":
        settings = _secret_settings(algorithms)
    else:
        pem = (rsa_pair if key == "rsa" else ec_pair)()[1]
        settings = Settings(jwt_public_key=pem, jwt_algorithms=algorithms)
    with pytest.raises(ConfigurationError, match=rf"GATEWAY_JWT_ALGORITHMS.*{named}"):
        Authenticator(settings)


def test_the_default_algorithms_follow_the_public_keys_type() -> None:
    for pair, algorithm in ((rsa_pair, "RS256"), (ec_pair, "ES256")):
        private_key, public_pem = pair()
        auth = Authenticator(Settings(jwt_public_key=public_pem))
        token = jwt.encode(claims(), private_key, algorithm=algorithm)  # type: ignore[arg-type]
        assert auth.authenticate(f"Bearer {token}") == "alice"


def _tokens_of_every_family(public_pem: str) -> dict[str, str]:
    rsa_key, ec_key = rsa_pair()[0], ec_pair()[0]
    ed_key = ed25519.Ed25519PrivateKey.generate()
    signed = {
        "HS256": jwt.encode(claims(), SECRET, algorithm="HS256"),
        "HS512": jwt.encode(claims(), SECRET * 2, algorithm="HS512"),
        # The classic confusion: HMAC "signed" with the verifier's public key as the secret.
        "HS256-public-key": _hmac_token(public_pem.encode()),
        "RS256": jwt.encode(claims(), rsa_key, algorithm="RS256"),  # type: ignore[arg-type]
        "PS256": jwt.encode(claims(), rsa_key, algorithm="PS256"),  # type: ignore[arg-type]
        "ES256": jwt.encode(claims(), ec_key, algorithm="ES256"),  # type: ignore[arg-type]
        "EdDSA": jwt.encode(claims(), ed_key, algorithm="EdDSA"),
    }
    header, payload, _ = signed["RS256"].split(".")
    signed["RS256-short-signature"] = f"{header}.{payload}.AAAA"
    signed["ES256-short-signature"] = ".".join([*signed["ES256"].split(".")[:2], "AAAA"])
    signed["unknown-alg"] = ".".join([_b64(b'{"alg":"XX999","typ":"JWT"}'), payload, "AAAA"])
    signed["header-not-json"] = ".".join([_b64(b"{"), payload, "AAAA"])
    return signed


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_token(key: bytes) -> str:
    import hashlib
    import hmac
    import json

    signing_input = ".".join([_b64(b'{"alg":"HS256","typ":"JWT"}'),
                              _b64(json.dumps(claims()).encode())])  # fmt: skip
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@pytest.mark.parametrize("verifier", ["secret", "rsa", "ec"])
def test_a_token_the_key_cannot_verify_is_unauthenticated(verifier: str) -> None:
    """Whatever algorithm a token names, it is accepted or UNAUTHENTICATED, never a crash."""
    if verifier == "secret":
        public_pem, auth = rsa_pair()[1], Authenticator(_secret_settings())
        accepted = {"HS256"}
    else:
        public_pem = (rsa_pair if verifier == "rsa" else ec_pair)()[1]
        auth = Authenticator(Settings(jwt_public_key=public_pem))
        accepted = set()
    for name, token in _tokens_of_every_family(public_pem).items():
        if name in accepted:
            assert auth.authenticate(f"Bearer {token}") == "alice"
            continue
        with pytest.raises(Unauthenticated):
            auth.authenticate(f"Bearer {token}")


async def test_over_http_a_token_for_another_key_type_is_unauthenticated(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    """An RSA-keyed gateway, by default, took ES256 tokens to a 500."""
    _, public_pem = rsa_pair()
    rsa_settings = settings.model_copy(update={"jwt_secret": None, "jwt_public_key": public_pem})
    app = create_app(rsa_settings, store=store, clock=clock)
    token = jwt.encode(claims(), ec_pair()[0], algorithm="ES256")  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://gateway") as http:  # fmt: skip
        result = await GraphQLClient(http, token)("{ sessions { totalCount } }")
    assert result.codes == ["UNAUTHENTICATED"]


def _counting_decode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    verified: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: object, **kwargs: object) -> object:
        verified.append(token)
        return decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("gateway.auth.jwt.decode", counting)
    return verified


def test_a_verified_token_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    verified = _counting_decode(monkeypatch)
    auth = Authenticator(Settings(jwt_secret=SecretStr(SECRET)))
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert [auth.authenticate("Bearer " + token) for _ in range(3)] == ["alice"] * 3
    assert verified == [token]


def test_a_cached_token_is_refused_once_it_expires() -> None:
    now = [time.time()]
    auth = Authenticator(Settings(jwt_secret=SecretStr(SECRET)), clock=lambda: now[0])
    token = jwt.encode(claims(exp=int(now[0]) + 30), SECRET, algorithm="HS256")
    assert auth.authenticate("Bearer " + token) == "alice"
    now[0] += 31
    with pytest.raises(Unauthenticated, match="expired"):
        auth.authenticate("Bearer " + token)


def test_refused_tokens_are_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    verified = _counting_decode(monkeypatch)
    auth = Authenticator(Settings(jwt_secret=SecretStr(SECRET)))
    forged = jwt.encode(claims(), "another-secret-another-secret-another", algorithm="HS256")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.authenticate("Bearer " + forged)
    assert verified == [forged, forged]


def test_the_token_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    verified = _counting_decode(monkeypatch)
    auth = Authenticator(Settings(jwt_secret=SecretStr(SECRET)), cache_size=2)
    tokens = [jwt.encode(claims(jti=str(n)), SECRET, algorithm="HS256") for n in range(3)]
    for token in [*tokens, tokens[0]]:
        auth.authenticate("Bearer " + token)
    assert verified == [*tokens, tokens[0]]  # the oldest was let go
