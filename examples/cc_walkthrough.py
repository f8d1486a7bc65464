"""Sign and post a P2P message, a team message and a recall to a running gateway, as NIM's
message CC would, then read the three users' session lists over GraphQL and check that they show
what the message-CC rules say they must.

Against the demo, from the directory it runs in (--demo reads the secrets it keeps there):

    .venv/bin/python examples/cc_walkthrough.py --url http://127.0.0.1:8000 --demo

or against any gateway, with its secrets (`make demo` prints the demo's):

    python examples/cc_walkthrough.py --url http://127.0.0.1:8000 \\
        --app-secret <app-secret> --jwt-secret <jwt-secret>

Exits 0 when every list is as expected, 1 when one is not or the gateway refused a request.
It needs only what `pip install .` installs.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import jwt
import orjson

from gateway.demo_keys import kept_keys
from gateway.domain.checksum import sign
from gateway.errors import ConfigurationError

SESSIONS = """{ sessions(first: 10) { edges { node {
  key lastMessageKind lastMessage { serverId from text }
  lastRevokeNotification { messageServerId operator }
} } } }"""


class Refused(Exception):
    """The gateway said no, or could not be reached: one line that says why."""


class Gateway:
    def __init__(self, url: str, app_secret: str, jwt_secret: str) -> None:
        self.url = url.rstrip("/")
        self.app_secret = app_secret
        self.jwt_secret = jwt_secret

    def post_cc(self, body: dict[str, Any]) -> None:
        raw = orjson.dumps(body)
        headers = sign(self.app_secret, raw, int(time.time() * 1000))
        status, answer = self._request("/nim/cc", raw, headers)
        print(f"POST /nim/cc -> {status} {answer.decode()}")
        if status == 403:
            raise Refused(
                f"the webhook refused the signature ({_code(answer)}): --app-secret must be the "
                "gateway's GATEWAY_NIM_APP_SECRET (the demo banner prints it)"
            )
        if status != 200:
            raise Refused(f"the webhook answered {status}: {answer.decode()}")

    def sessions(self, account: str) -> dict[str, dict[str, Any]]:
        token = jwt.encode({"sub": account, "exp": int(time.time()) + 300}, self.jwt_secret)
        status, answer = self._request(
            "/graphql",
            orjson.dumps({"query": SESSIONS}),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        body = orjson.loads(answer) if answer.startswith(b"{") else {}
        errors = body.get("errors") or []
        if any(e.get("extensions", {}).get("code") == "UNAUTHENTICATED" for e in errors):
            raise Refused(
                f"the gateway refused a token for {account} (UNAUTHENTICATED): --jwt-secret must "
                "be the gateway's GATEWAY_JWT_SECRET (the demo banner prints it)"
            )
        if status != 200 or errors or not body.get("data"):
            raise Refused(f"GraphQL answered {status}: {answer.decode()}")
        edges = body["data"]["sessions"]["edges"]
        return {edge["node"]["key"]: edge["node"] for edge in edges}

    def _request(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        # --url is checked to be http(s) in main().
        request = urllib.request.Request(self.url + path, data=body, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as e:
            return e.code, bytes(e.read())
        except urllib.error.URLError as e:
            raise Refused(f"cannot reach the gateway at {self.url}: {e.reason}") from None


def _code(answer: bytes) -> str:
    try:
        return str(orjson.loads(answer)["error"]["code"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return answer.decode(errors="replace")


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="cc_walkthrough.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000",
                        help="the gateway's base URL (default: %(default)s)")  # fmt: skip
    parser.add_argument("--demo", action="store_true",
                        help="take both secrets from the demo in this directory (the "
                             "gateway-demo.db.demo-keys file `make demo` keeps)")  # fmt: skip
    parser.add_argument("--app-secret",
                        help="the NIM app secret the gateway checks webhooks with "
                             "(its GATEWAY_NIM_APP_SECRET)")  # fmt: skip
    parser.add_argument("--jwt-secret",
                        help="the HS256 secret the gateway checks tokens with "
                             "(its GATEWAY_JWT_SECRET)")  # fmt: skip
    args = parser.parse_args()
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must be an http:// or https:// URL, not {args.url!r}")
    if args.demo:
        try:
            keys = kept_keys()
        except ConfigurationError as e:
            parser.error(e.message)
        args.app_secret, args.jwt_secret = keys.nim_app_secret, keys.jwt_secret
    elif not (args.app_secret and args.jwt_secret):
        parser.error("give --app-secret and --jwt-secret, or --demo beside a running make demo")
    try:
        return walk(Gateway(args.url, args.app_secret, args.jwt_secret))
    except Refused as e:
        print(f"cc_walkthrough: {e}", file=sys.stderr)
        return 1


def walk(gateway: Gateway) -> int:
    run = uuid.uuid4().hex[:8]
    alice, bob, carol, team = f"alice-{run}", f"bob-{run}", f"carol-{run}", f"7{run[:6]}"
    now = int(time.time() * 1000)

    gateway.sessions(alice)  # a token the gateway refuses stops us before anything is posted
    gateway.post_cc(_message(f"p-{run}", alice, bob, "PERSON", now, "dinner at 8?"))
    # NIM lists a small team's members (tMembers) on each of its messages.
    release = _message(f"t-{run}", bob, team, "TEAM", now + 1, "release is out")
    gateway.post_cc({**release, "tMembers": f"[{alice}, {bob}, {carol}]"})
    # NIM's recall: the recalled message (msgId), its sender (from) and peer (to).
    gateway.post_cc({"eventType": "7", "msgId": f"p-{run}", "from": alice, "to": bob,
                     "deleteTime": str(now + 2), "sendTime": str(now),
                     "selfMsg": "wrong chat"})  # fmt: skip

    lists = {account: gateway.sessions(account) for account in (alice, bob, carol)}

    revoked = {
        "lastMessageKind": "REVOKE_NOTIFICATION",
        "lastMessage": None,
        "lastRevokeNotification": {"messageServerId": f"p-{run}", "operator": alice},
    }
    team_message = {
        "lastMessageKind": "MESSAGE",
        "lastMessage": {"serverId": f"t-{run}", "from": bob, "text": "release is out"},
        "lastRevokeNotification": None,
    }
    expected = {
        alice: {f"p2p|{bob}": revoked, f"team|{team}": team_message},
        bob: {f"p2p|{alice}": revoked, f"team|{team}": team_message},
        carol: {f"team|{team}": team_message},
    }
    failures = 0
    for account, want in expected.items():
        got = {
            key: {k: v for k, v in node.items() if k != "key"}
            for key, node in lists[account].items()
        }
        verdict = "ok" if got == want else "WRONG"
        failures += got != want
        print(f"{verdict:5} {account}: {orjson.dumps(got).decode()}")
    return 1 if failures else 0


def _message(
    msgid: str, sender: str, to: str, conv: str, time_ms: int, text: str
) -> dict[str, Any]:
    return {"eventType": 1, "convType": conv, "fromAccount": sender, "to": to, "msgType": "TEXT",
            "body": text, "msgidServer": msgid, "msgidClient": f"c-{msgid}",
            "msgTimestamp": str(time_ms)}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
