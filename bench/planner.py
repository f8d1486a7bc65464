"""Whether the sub-selection planner (gateway/fastpath/planner.py) earns its place: a page read
through graphql-core (as a document's first request, a mutation's result or any document the
compiler leaves alone are), with the planner and without it, side by side in one process.

    python -m bench.planner [DATABASE] [REQUESTS]   prints the figures as JSON

The compiler is switched off for both, so every request runs on graphql-core's executor: with
``planned=True`` plain sub-selections go through the planner's compiled plans, with
``planned=False`` through graphql-core alone. The two alternate, in rounds, through the real app
(bench/profile.py's ASGI calls: no sockets).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from typing import Any
from unittest import mock

import orjson

from bench import data
from bench import profile as page_profile
from gateway.fastpath import QueryCache
from gateway.schema import build_schema


async def timed(database: str, first: int, planned: bool, requests: int) -> float:
    """Microseconds per request of the page of ``first`` sessions."""
    page = page_profile.PAGE.replace("first: 20", f"first: {first}")

    def schema(*args: Any, **kwargs: Any) -> Any:
        return build_schema(*args, **{**kwargs, "planned": planned})

    class Clock:
        def enable(self) -> None:
            self.started = time.perf_counter()

        def disable(self) -> None:
            Clock.elapsed = time.perf_counter() - self.started

        elapsed = 0.0

    with (
        mock.patch.object(QueryCache, "get", return_value=None),
        mock.patch.object(QueryCache, "learn", return_value=None),
        mock.patch("gateway.web.app.build_schema", schema),
        mock.patch.object(page_profile, "PAGE", page),
        mock.patch("cProfile.Profile", Clock),
        mock.patch("pstats.Stats", return_value=mock.Mock(stats={})),
    ):
        await page_profile.profile(database, requests)
    return 1e6 * Clock.elapsed / requests


def main() -> None:
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    with tempfile.TemporaryDirectory() as tmp:
        database = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else f"{tmp}/planner.db"
        if database.startswith(tmp):
            asyncio.run(data.fill_sqlite(database, 1000))
        figures: dict[str, Any] = {"requests": requests}
        for first in (20, 100):
            runs: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(3):  # alternated: the machine's noise falls on both
                for planned in (True, False):
                    runs[planned].append(asyncio.run(timed(database, first, planned, requests)))
            best = {planned: min(times) for planned, times in runs.items()}
            figures[f"first_{first}"] = {
                "planned_us": round(best[True]),
                "graphql_core_us": round(best[False]),
                "speed_up": round(best[False] / best[True], 2),
            }
    print(orjson.dumps(figures).decode())


if __name__ == "__main__":
    main()
