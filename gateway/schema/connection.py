"""The Relay connection over a viewer's sessions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from gateway.schema.types import Session


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether older sessions exist (NIM's hasMore)."
    )
    start_cursor: str | None
    end_cursor: str | None
    _has_previous_page: strawberry.Private[Callable[[], Awaitable[bool]]]

    @strawberry.field(description="Whether newer sessions in the window precede this page.")
    async def has_previous_page(self) -> bool:
        return await self._has_previous_page()


@strawberry.type
class SessionEdge:
    cursor: str
    node: Session


@strawberry.type(description="A page of the viewer's sessions, newest first.")
class SessionConnection:
    edges: list[SessionEdge]
    page_info: PageInfo
    _total_count: strawberry.Private[Callable[[], Awaitable[int]]]
    _sync_token: strawberry.Private[Callable[[], Awaitable[str]]]

    @strawberry.field(description="The sessions of this page, as in `edges`.")
    def nodes(self) -> list[Session]:
        return [edge.node for edge in self.edges]

    @strawberry.field(
        description="How many sessions match the time window, whatever the cursor. Counted "
        "only when asked for."
    )
    async def total_count(self) -> int:
        return await self._total_count()

    @strawberry.field(
        description="The change feed's token as of this page's snapshot: follow "
        "`sessionChanges(since:)` or `sessionEvents(since:)` from it to miss nothing."
    )
    async def sync_token(self) -> str:
        return await self._sync_token()
