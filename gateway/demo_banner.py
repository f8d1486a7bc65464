"""What `gateway serve --demo` prints: where to look, a token, and commands to try, each indented
by two spaces and runnable as printed, as often as wanted (tests/test_first_hour.py runs them)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from gateway.auth import issue_token
from gateway.demo import ACCOUNTS
from gateway.demo_keys import DemoKeys
from gateway.settings import Settings

DEMO_ACCOUNT = "alice"


def banner(settings: Settings, keys: DemoKeys) -> str:
    """What to try, as commands that run as printed (indented by two spaces) and again."""
    base = f"http://{settings.host}:{settings.port}"
    gateway = own_command()
    lines = ["", f"Demo: GraphiQL at {base}/graphql"]
    if settings.jwt_secret is None:
        lines.append("Tokens: issued with the private key of GATEWAY_JWT_PUBLIC_KEY")
    else:
        secret = settings.jwt_secret.get_secret_value()
        token = issue_token(settings, DEMO_ACCOUNT)
        others = ", ".join(a for a in ACCOUNTS if a != DEMO_ACCOUNT)
        if secret != keys.jwt_secret:
            kept = "GATEWAY_JWT_SECRET is set"
        elif keys.file is not None:
            kept = f"its key is kept in {keys.file}, so tokens outlive a restart"
        else:
            kept = "its key is for this run only"
        lines += [
            f"Token for {DEMO_ACCOUNT}, valid 24 h (GraphiQL's Headers: "
            '{"Authorization": "Bearer <token>"}):',
            token,
            "",
            f"{DEMO_ACCOUNT}'s two newest sessions:",
            f"  curl -s {base}/graphql -H 'Authorization: Bearer {token}' "
            "-H 'Content-Type: application/json' "
            '-d \'{"query": "{ sessions(first: 2) { totalCount edges { node { key lastMessage '
            "{ text } } } pageInfo { endCursor hasNextPage } } }\"}'",
            "",
            f"A token for another account ({others}; {kept}):",
            f"  GATEWAY_JWT_SECRET={shlex.quote(secret)} {gateway} token bob",
        ]
    if settings.nim_app_secret is not None:
        app_secret = shlex.quote(settings.nim_app_secret.get_secret_value())
        webhook = f"{base}{settings.nim_cc_path}"
        lines += [
            "",
            f"NIM's message-CC webhook is POST {webhook} (app secret {app_secret}). "
            "A new message from alice to bob, each time you run it:",
            '  BODY=\'{"eventType":1,"convType":"PERSON","fromAccount":"alice","to":"bob",'
            '"msgType":"TEXT","body":"hi","msgidServer":"demo-\'$(date +%s%N)\'",'
            "\"msgTimestamp\":'$(date +%s%3N)'}'",
            f'  GATEWAY_NIM_APP_SECRET={app_secret} {gateway} sign "$BODY" '
            f'| curl -s {webhook} -H @- -d "$BODY"',
        ]
    return "\n".join(lines) + "\n"


def own_command() -> str:
    """This program as a shell runs it: `gateway` when the PATH finds this very program, else
    its path (a virtualenv's, say), or `python -m gateway`."""
    program = Path(sys.argv[0])
    if program.name == "__main__.py":
        return f"{shlex.quote(sys.executable)} -m gateway"
    found = shutil.which("gateway")
    if found is not None and Path(found).resolve() == program.resolve():
        return "gateway"
    return shlex.quote(os.path.abspath(program))
