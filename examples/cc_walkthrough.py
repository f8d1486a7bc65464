"""Sign and post a P2P message, a team message and a recall to a running gateway, as NIM would,
then read the affected users' session lists over GraphQL and check what they show.

    python examples/cc_walkthrough.py --url http://127.0.0.1:8000 \\
        --app-secret "$GATEWAY_NIM_APP_SECRET" --jwt-secret "$GATEWAY_JWT_SECRET"

Exits 0 when every list shows what the message-CC rules say it must, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import Any

import httpx
import jwt
import orjson

from gateway.domain.checksum import sign, sign_request

SESSIONS = """{ sessions(first: 10) { edges { node {
  key lastMessageKind lastMessage { serverId from text }
  lastRevokeNotification { messageServerId operator }
} } } }"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--jwt-secret", required=True)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    alice, bob, carol, team = f"alice-{run}", f"bob-{run}", f"carol-{run}", f"7{run[:6]}"
    now = int(time.time() * 1000)

    with httpx.Client(base_url=args.url, timeout=10) as http:

        def post(path: str, body: dict[str, Any], method: str = "POST") -> None:
            raw = orjson.dumps(body)
            now = int(time.time() * 1000)
            if path.startswith("/nim/teams/"):  # the registry's signature covers the request
                headers = sign_request(args.app_secret, method, path, raw, now)
            else:
                headers = sign(args.app_secret, raw, now)
            response = http.request(method, path, content=raw, headers=headers)
            print(f"{method} {path} -> {response.status_code} {response.text}")
            response.raise_for_status()

        def sessions(account: str) -> dict[str, dict[str, Any]]:
            token = jwt.encode({"sub": account, "exp": int(time.time()) + 300}, args.jwt_secret)
            response = http.post("/graphql", json={"query": SESSIONS},
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            edges = response.json()["data"]["sessions"]["edges"]
            return {edge["node"]["key"]: edge["node"] for edge in edges}

        post("/nim/cc", _message(f"p-{run}", alice, bob, "PERSON", now, "dinner at 8?"))
        # NIM lists a small team's members (tMembers) on each of its messages.
        release = _message(f"t-{run}", bob, team, "TEAM", now + 1, "release is out")
        post("/nim/cc", {**release, "tMembers": f"[{alice}, {bob}, {carol}]"})
        # NIM's recall: the recalled message (msgId), its sender (from) and peer (to).
        post("/nim/cc", {"eventType": "7", "msgId": f"p-{run}", "from": alice, "to": bob,
                         "deleteTime": str(now + 2), "sendTime": str(now),
                         "selfMsg": "wrong chat"})  # fmt: skip

        lists = {account: sessions(account) for account in (alice, bob, carol)}

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
