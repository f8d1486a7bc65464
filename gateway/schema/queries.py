"""Query root: the viewer's session list, one session, and Relay's node."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from gateway.domain.keys import SessionType
from gateway.domain.pages import Filters, PageQuery, TimeWindow, check_page_size
from gateway.domain.sync import ChangeSet, SyncPosition
from gateway.schema import conversations
from gateway.schema.connection import PageInfo, SessionConnection, SessionEdge
from gateway.schema.context import Context
from gateway.schema.ids import is_group_id, parse_group_id, parse_session_id
from gateway.schema.prefetch import last_messages, selects
from gateway.schema.scalars import Timestamp
from gateway.schema.sync import SessionChangeSet
from gateway.schema.types import Node, Session, SessionGroup

Info = strawberry.Info[Context, None]
T = TypeVar("T")


@strawberry.type
class Query:
    @strawberry.field(
        description="The viewer's sessions, newest `updateTime` first (ties by key). `first` is "
        "1 to 100 (default 100); the timestamps are inclusive bounds on `updateTime`. Filters: "
        "`types`, `onlyUnread`, `pinned`, `muted`, and `groupId` (one conversation group's "
        "sessions, with any of the others). `pinnedFirst` lists pinned sessions first, most "
        "recently pinned first, then the rest by `updateTime`."
    )
    async def sessions(
        self,
        info: Info,
        first: int | None = strawberry.UNSET,
        after: str | None = strawberry.UNSET,
        min_timestamp: Timestamp | None = strawberry.UNSET,
        max_timestamp: Timestamp | None = strawberry.UNSET,
        types: list[SessionType] | None = strawberry.UNSET,
        only_unread: bool | None = strawberry.UNSET,
        pinned: bool | None = strawberry.UNSET,
        pinned_first: bool | None = strawberry.UNSET,
        muted: bool | None = strawberry.UNSET,
        group_id: strawberry.ID | None = strawberry.UNSET,
    ) -> SessionConnection:
        ctx = info.context
        viewer = ctx.viewer()
        given_types = _given(types)
        group = _given(group_id)
        filters = Filters(
            types=None if given_types is None else frozenset(given_types),
            only_unread=bool(_given(only_unread)),
            pinned=_given(pinned),
            muted=_given(muted),
            group_id=None if group is None else parse_group_id(group),
        )
        cursor = _given(after)
        query = PageQuery(
            window=_window(_given(min_timestamp), _given(max_timestamp)),
            limit=check_page_size(_given(first)),
            after=None if cursor is None else ctx.cursors.decode(viewer, cursor),
            filters=filters,
            pinned_first=bool(_given(pinned_first)),
        )
        page = await ctx.store.list_sessions(
            viewer,
            query,
            with_sync_position=selects(info, "syncToken"),
            with_last_messages=selects(info, "lastMessage", deep=True),
        )
        sign = ctx.cursors.signer(viewer)
        pinned_first = query.pinned_first
        messages = page.last_messages or [None] * len(page.sessions)
        nodes = [Session.with_message(s, m) for s, m in zip(page.sessions, messages, strict=True)]
        edges = [
            SessionEdge(
                cursor=sign(s.update_time, n.key, s.pinned_at if pinned_first else None), node=n
            )
            for s, n in zip(page.sessions, nodes, strict=True)
        ]

        async def has_previous_page() -> bool:
            if query.after is None:
                return False
            return await ctx.store.has_sessions_before(viewer, query, query.after)

        async def total_count() -> int:
            return await ctx.store.count_sessions(viewer, query.window, filters)

        async def sync_token() -> str:
            snapshot = page.sync_position or await ctx.store.sync_position(viewer)
            return snapshot.token()

        return SessionConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_more,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
                _has_previous_page=has_previous_page,
            ),
            _total_count=total_count,
            _sync_token=sync_token,
        )

    @strawberry.field(
        description="The sum of the unread counts of the viewer's sessions; muted sessions "
        "count only with `includeMuted: true`."
    )
    async def total_unread_count(
        self, info: Info, include_muted: bool | None = strawberry.UNSET
    ) -> int:
        ctx = info.context
        return await ctx.store.total_unread(ctx.viewer(), include_muted=bool(_given(include_muted)))

    unread_count: int = strawberry.field(
        resolver=conversations.unread_count,
        description="The sum of the unread counts of the sessions a filter selects (types, "
        "one group; muted sessions only with `includeMuted`). No filter: `totalUnreadCount`.",
    )
    session_groups: list[SessionGroup] = strawberry.field(
        resolver=conversations.session_groups,
        description="The viewer's conversation groups, oldest first.",
    )
    session_group: SessionGroup | None = strawberry.field(
        resolver=conversations.session_group,
        description="One of the viewer's groups by global ID or group id; null without it.",
    )
    sessions_by_ids: list[Session | None] = strawberry.field(
        resolver=conversations.sessions_by_ids,
        description="Up to 100 sessions by global ID or NIM key, in the order asked; null for "
        "each the viewer does not have.",
    )
    nodes: list[Node | None] = strawberry.field(
        resolver=conversations.nodes,
        description="Up to 100 objects by global ID (Relay), in the order asked; sessions also "
        "by NIM key. Null for each the viewer does not have.",
    )

    @strawberry.field(
        description="What changed in the viewer's list after `since`: changed sessions as they "
        "are now, and deletions. `since: null` returns a token for now. Fails with "
        "SYNC_TOKEN_EXPIRED when the changes after `since` are no longer kept: reload the list."
    )
    async def session_changes(
        self, info: Info, since: str | None = strawberry.UNSET, first: int | None = strawberry.UNSET
    ) -> SessionChangeSet:
        ctx = info.context
        viewer = ctx.viewer()
        limit = check_page_size(_given(first))
        since = _given(since)
        if since is None:
            now = await ctx.store.sync_position(viewer)
            return SessionChangeSet.of(ChangeSet([], now, has_more=False))
        change_set = await ctx.store.changes_since(viewer, SyncPosition.parse(since), limit)
        changed = [c.session for c in change_set.changes if c.session is not None]
        return SessionChangeSet.of(change_set, await last_messages(info, changed))

    @strawberry.field(
        description="One of the viewer's sessions by global ID or NIM key ('p2p|bob'); null "
        "when the viewer has no such session."
    )
    async def session(self, info: Info, id: strawberry.ID) -> Session | None:
        return await _find_session(info, id)

    @strawberry.field(description="Any object by its global ID (Relay); sessions also by NIM key.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        if is_group_id(id):
            return await conversations.find_node(info, id)
        return await _find_session(info, id)


async def _find_session(info: Info, id: str) -> Session | None:
    viewer = info.context.viewer()
    key = parse_session_id(id)
    found = await info.context.store.get_sessions(viewer, [key])
    return Session.of(found[0], await last_messages(info, found)) if found else None


def _given(value: T | None) -> T | None:
    # Arguments default to UNSET so the SDL shows no `= null`; UNSET means "not given".
    return None if value is strawberry.UNSET else value


def _window(min_timestamp: Timestamp | None, max_timestamp: Timestamp | None) -> TimeWindow:
    bounds: dict[str, int] = {}
    if min_timestamp is not None:
        bounds["min_time"] = int(min_timestamp)
    if max_timestamp is not None:
        bounds["max_time"] = int(max_timestamp)
    return TimeWindow(**bounds)
