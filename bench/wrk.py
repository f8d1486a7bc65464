"""wrk runs: a Lua script for a GraphQL POST, and the figures parsed from wrk's output."""

from __future__ import annotations

import re
import subprocess
import tempfile

import orjson


def graphql_script(query: str, token: str | None) -> str:
    body = orjson.dumps({"query": query}).decode()
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {_lua(body)}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if token:
        lines.append(f'wrk.headers["Authorization"] = {_lua("Bearer " + token)}')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
        return script.name


def run_wrk(url: str, script: str | None, connections: int, seconds: int) -> dict[str, float]:
    command = ["wrk", "--latency", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if script:
        command[1:1] = ["-s", script]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),  # type: ignore[union-attr]
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _lua(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
