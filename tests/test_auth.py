"""Bearer JWTs: every data field needs one; GraphiQL and introspection do not."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr

from gateway.auth import Authenticator
from gateway.errors import ConfigurationError, Unauthenticated
from gateway.settings import Settings
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
