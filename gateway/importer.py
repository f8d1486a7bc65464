"""Bulk import of an existing history: a file of NIM CC events, one JSON object a line.

A line that is ``{"tid", "type", "members"}`` sets a team's members (as ``PUT
/nim/teams/<tid>/members`` does) as of its optional ``time`` (ms; the start of time when absent),
for teams whose members NIM's stream does not list; every other line is a CC event and goes
through the same ingestion rules as the webhook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from gateway.domain import fields
from gateway.domain.teams import parse_member_change
from gateway.errors import BadEvent, GatewayError
from gateway.ingest import Ingestor, Outcome
from gateway.store.base import SessionStore


@dataclass
class ImportReport:
    applied: int = 0
    duplicate: int = 0
    ignored: int = 0
    teams: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    def summary(self) -> str:
        return (
            f"{self.applied} applied, {self.duplicate} duplicate, {self.ignored} ignored, "
            f"{self.teams} team lists, {len(self.rejected)} rejected"
        )


async def import_lines(
    store: SessionStore,
    lines: Iterable[bytes],
    on_line: Callable[[bytes], None] = lambda line: None,
) -> ImportReport:
    ingestor = Ingestor(store)
    report = ImportReport()
    for number, line in enumerate(lines, start=1):
        on_line(line)
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
            if isinstance(document, dict) and "tid" in document and "eventType" not in document:
                tid = fields.account(document["tid"], "tid")
                change = parse_member_change(tid, document)
                await store.set_team_members(change.team, change.members, _time(document))
                report.teams += 1
                continue
            _, outcome = await ingestor.apply_json(document)
        except orjson.JSONDecodeError:
            report.rejected.append((number, "BAD_JSON: the line is not JSON"))
            continue
        except GatewayError as e:
            report.rejected.append((number, f"{e.code}: {e.message}"))
            continue
        if outcome is Outcome.APPLIED:
            report.applied += 1
        elif outcome is Outcome.DUPLICATE:
            report.duplicate += 1
        else:
            report.ignored += 1
    return report


def _time(document: dict[str, object]) -> int:
    value = document.get("time", 0)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**15:
        return value
    raise BadEvent("time of a team line must be milliseconds since the epoch")
