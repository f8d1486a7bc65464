"""Mutation root: the viewer's writes to their own list."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.pages import Filters
from gateway.domain.sessions import MAX_PAGE_SIZE, check_ext
from gateway.errors import BadUserInput, NotFound
from gateway.schema import conversations
from gateway.schema.context import Context
from gateway.schema.ids import global_id, parse_group_id, parse_session_id
from gateway.schema.prefetch import last_messages
from gateway.schema.types import Session

Info = strawberry.Info[Context, None]
T = TypeVar("T")


@strawberry.input
class UpdateSessionExtInput:
    id: strawberry.ID = strawberry.field(description="Global ID or NIM key ('p2p|bob').")
    ext: str = strawberry.field(description="At most 1024 bytes of UTF-8.")


@strawberry.type
class UpdateSessionExtPayload:
    session: Session


@strawberry.input
class DeleteSessionsInput:
    ids: list[strawberry.ID] = strawberry.field(
        description="1 to 100 global IDs or NIM keys; ones the viewer does not have are ignored."
    )


@strawberry.type
class DeleteSessionsPayload:
    deleted_ids: list[strawberry.ID] = strawberry.field(
        description="Global IDs of the sessions that were deleted."
    )
    deleted_keys: list[str] = strawberry.field(description="NIM keys of the same sessions.")


@strawberry.input(description="Which sessions to mark read: exactly one of the three.")
class MarkSessionsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 100 global IDs or NIM keys."
    )
    types: list[SessionType] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Every session of these types with unread messages (V2's "
        "clearUnreadCountByTypes).",
    )
    group_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Every session of this group with unread messages (V2's "
        "clearUnreadCountByGroupId).",
    )


@strawberry.type
class MarkSessionsReadPayload:
    sessions: list[Session] = strawberry.field(description="The sessions that were marked read.")


@strawberry.type
class MarkAllSessionsReadPayload:
    total_unread_count: int


@strawberry.input
class PinSessionInput:
    id: strawberry.ID
    pinned: bool


@strawberry.type
class PinSessionPayload:
    session: Session


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Set the viewer's server ext of a session. Creates the session (no last "
        "message) when the viewer has none; never changes an existing session's updateTime."
    )
    async def update_session_ext(
        self, info: Info, input: UpdateSessionExtInput
    ) -> UpdateSessionExtPayload:
        ctx = info.context
        viewer = ctx.viewer()
        key = parse_session_id(input.id)
        session = await ctx.store.update_ext(viewer, key, check_ext(input.ext), ctx.clock())
        return UpdateSessionExtPayload(
            session=Session.of(session, await last_messages(info, [session]))
        )

    @strawberry.mutation(
        description="Delete sessions from the viewer's list (messages are not touched). A later "
        "message in the conversation brings the session back."
    )
    async def delete_sessions(
        self, info: Info, input: DeleteSessionsInput
    ) -> DeleteSessionsPayload:
        ctx = info.context
        viewer = ctx.viewer()
        keys = _keys(input.ids)
        deleted = await ctx.store.delete_sessions(viewer, keys, ctx.clock())
        return DeleteSessionsPayload(
            deleted_ids=[strawberry.ID(global_id(key)) for key in deleted],
            deleted_keys=[str(key) for key in deleted],
        )

    @strawberry.mutation(
        description="Clear the unread count of sessions and set their lastReadTime to now: "
        "by `ids` (ones the viewer does not have are ignored), or every session with unread "
        "messages of some `types` or of one group (`groupId`)."
    )
    async def mark_sessions_read(
        self, info: Info, input: MarkSessionsReadInput
    ) -> MarkSessionsReadPayload:
        ctx = info.context
        viewer = ctx.viewer()
        ids, types, group = _given(input.ids), _given(input.types), _given(input.group_id)
        if (ids is not None) + (types is not None) + (group is not None) != 1:
            raise BadUserInput("give exactly one of ids, types and groupId")
        if ids is not None:
            marked = await ctx.store.mark_read(viewer, _keys(ids), ctx.clock())
        else:
            filters = Filters(
                types=None if types is None else frozenset(types),
                group_id=None if group is None else parse_group_id(group),
            )
            marked = await ctx.store.mark_read_where(viewer, filters, ctx.clock())
        messages = await last_messages(info, marked)
        return MarkSessionsReadPayload(sessions=[Session.of(s, messages) for s in marked])

    @strawberry.mutation(description="Mark every session with unread messages read.")
    async def mark_all_sessions_read(self, info: Info) -> MarkAllSessionsReadPayload:
        ctx = info.context
        viewer = ctx.viewer()
        await ctx.store.mark_all_read(viewer, ctx.clock())
        return MarkAllSessionsReadPayload(total_unread_count=await ctx.store.total_unread(viewer))

    @strawberry.mutation(
        description="Pin a session to the top of `sessions(pinnedFirst: true)`, or unpin it. "
        "Pinning again refreshes the pin time. Does not change updateTime."
    )
    async def pin_session(self, info: Info, input: PinSessionInput) -> PinSessionPayload:
        ctx = info.context
        viewer = ctx.viewer()
        key = parse_session_id(input.id)
        session = await ctx.store.set_pinned(viewer, key, input.pinned, ctx.clock())
        if session is None:
            raise NotFound(f"you have no session {str(key)!r} to pin")
        return PinSessionPayload(session=Session.of(session, await last_messages(info, [session])))

    create_session_group: conversations.SessionGroupPayload = strawberry.mutation(
        resolver=conversations.create_session_group,
        description="Create a conversation group, with sessions in it or none. At most "
        "GATEWAY_GROUPS_PER_OWNER (100) groups: TOO_MANY_GROUPS past it.",
    )
    update_session_group: conversations.SessionGroupPayload = strawberry.mutation(
        resolver=conversations.update_session_group,
        description="Rename a group or change its server ext (what is not given stays).",
    )
    delete_session_group: conversations.DeleteSessionGroupPayload = strawberry.mutation(
        resolver=conversations.delete_session_group,
        description="Delete a group; its sessions stay in the list.",
    )
    add_sessions_to_group: conversations.AddSessionsToGroupPayload = strawberry.mutation(
        resolver=conversations.add_sessions_to_group,
        description="Put sessions in a group. A session is in at most "
        "GATEWAY_GROUPS_PER_SESSION (5) groups (TOO_MANY_GROUPS_FOR_SESSION), a group holds at "
        "most GATEWAY_SESSIONS_PER_GROUP (1000) (GROUP_FULL); past either, nothing is added.",
    )
    remove_sessions_from_group: conversations.RemoveSessionsFromGroupPayload = strawberry.mutation(
        resolver=conversations.remove_sessions_from_group,
        description="Take sessions out of a group.",
    )
    mute_sessions: conversations.MuteSessionsPayload = strawberry.mutation(
        resolver=conversations.mute_sessions,
        description="Mute (do-not-disturb) or unmute sessions. A muted session still counts "
        "its unread messages; `totalUnreadCount` and `unreadCount` leave it out unless asked.",
    )
    create_session: conversations.CreateSessionPayload = strawberry.mutation(
        resolver=conversations.create_session,
        description="Open a session without a message (V2's createConversation): it is listed "
        "with updateTime now and no last message. An existing session is returned as it is.",
    )


def _given(value: T | None) -> T | None:
    return None if value is strawberry.UNSET else value


def _keys(ids: list[strawberry.ID]) -> list[SessionKey]:
    if not 1 <= len(ids) <= MAX_PAGE_SIZE:
        raise BadUserInput(f"ids must hold 1 to {MAX_PAGE_SIZE} ids; got {len(ids)}")
    return [parse_session_id(id) for id in ids]
